// Pullback page: follow the scoring run until it has succeeded or failed (see progress.js).
(function () {
  "use strict";
  window.pollProgress({
    box: document.getElementById("pullback-status"),
    bar: document.getElementById("run-progress"),
    percent: document.getElementById("run-percent"),
    status: document.getElementById("run-status"),
    isDone: function (pullback) { return pullback.status === "succeeded" || pullback.status === "failed"; },
  });
})();
