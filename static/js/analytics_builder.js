// Cohort builder: ask the server for the number of matching patients whenever a filter changes
// (debounced), sending the form itself as a query string so that the server parses it once.
(function () {
  "use strict";
  var form = document.getElementById("cohort-form");
  if (!form) {
    return;
  }
  var value = document.getElementById("cohort-count-value");
  var withIcs = document.getElementById("cohort-count-ics");
  var timer = null;
  var latest = 0;

  function query() {
    var params = new URLSearchParams(new FormData(form));
    params.delete("csrfmiddlewaretoken");
    params.delete("action");
    return params.toString();
  }

  function update() {
    var ticket = ++latest;
    fetch(form.dataset.countUrl + "?" + query(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      })
      .then(function (answer) {
        if (ticket !== latest) {
          return; // an older answer arriving late
        }
        if (answer.ok) {
          value.textContent = answer.body.count;
          withIcs.textContent = "(" + answer.body.with_ics + " with an ICS)";
        } else {
          value.textContent = "?";
          withIcs.textContent = answer.body.error || "check the filters";
        }
      })
      .catch(function () {
        value.textContent = "?";
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 300);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  update();
})();
