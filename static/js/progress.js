// Shared by the pages that show a background job (import, scoring run, analysis run): poll the
// job's JSON status every second, move the progress bar, and reload the page when the job has
// finished so that its result (or failure) is shown. Call pollProgress(options) once.
//   options.box:     element with data-status-url (and data-done="true" when already finished)
//   options.bar, options.percent, options.status: <progress>, percentage and status elements
//   options.isDone:  function(job) -> true when the job has finished
(function () {
  "use strict";
  // The status words as the pages print them (the models' labels), not the stored codes.
  var LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed" };
  window.pollProgress = function (options) {
    var box = options.box;
    if (!box || box.dataset.done === "true") {
      return;
    }
    function show(job) {
      if (options.bar) {
        options.bar.value = job.progress_percent;
        options.bar.textContent = job.progress_percent + "%";
      }
      if (options.percent) { options.percent.textContent = job.progress_percent + "%"; }
      if (options.status) {
        options.status.textContent = LABELS[job.status] || job.status;
        options.status.className = options.status.className.replace(/\bbadge-\w+/, "badge-" + job.status);
      }
    }
    function poll() {
      fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("status " + response.status); }
          return response.json();
        })
        .then(function (job) {
          show(job);
          if (options.isDone(job)) {
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
  };
})();
