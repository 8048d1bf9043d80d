// Import page: follow the background import until it has finished (see progress.js).
(function () {
  "use strict";
  window.pollProgress({
    box: document.getElementById("import-job"),
    bar: document.getElementById("import-progress"),
    percent: document.getElementById("import-percent"),
    status: document.getElementById("import-status"),
    isDone: function (job) { return job.done; },
  });
})();
