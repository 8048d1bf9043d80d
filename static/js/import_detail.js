// Import page: poll the job's status every second and move the progress bar; reload the page
// when the import has finished so that the summary or the problems table is shown.
(function () {
  "use strict";
  var box = document.getElementById("import-job");
  if (!box || box.dataset.done === "true") {
    return;
  }
  var bar = document.getElementById("import-progress");
  var percent = document.getElementById("import-percent");
  var status = document.getElementById("import-status");

  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (job) {
        bar.value = job.progress_percent;
        bar.textContent = job.progress_percent + "%";
        percent.textContent = job.progress_percent + "%";
        status.textContent = job.status;
        if (job.done) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        // A hiccup (server restart, network): keep trying, a little slower.
        window.setTimeout(poll, 3000);
      });
  }

  window.setTimeout(poll, 1000);
})();
