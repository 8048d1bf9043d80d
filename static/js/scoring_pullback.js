// Pullback page: poll the run's status (JSON) every second and move the progress bar; reload
// when the run has finished so that the score or the failure message is shown.
(function () {
  "use strict";
  var box = document.getElementById("pullback-status");
  if (!box || box.dataset.done === "true") {
    return;
  }
  var bar = document.getElementById("run-progress");
  var percent = document.getElementById("run-percent");
  var status = document.getElementById("run-status");

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.json();
      })
      .then(function (pullback) {
        if (bar) { bar.value = pullback.progress_percent; }
        if (percent) { percent.textContent = pullback.progress_percent + "%"; }
        if (status) { status.textContent = pullback.status; }
        if (pullback.status === "succeeded" || pullback.status === "failed") {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
})();
