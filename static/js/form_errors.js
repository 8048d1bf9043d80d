// Registry forms with an error summary (templates/registry/_error_summary.html): after a save with
// errors, move the focus to the summary at the top, so that it is on screen and read out, and let
// each of its links put the cursor in its field.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (!summary) {
    return;
  }
  // Run at the end of the body, before the browser handles the first field's autofocus: once the
  // focus has moved, autofocus leaves it alone.
  summary.focus();
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) {
      return;
    }
    event.preventDefault();
    // The label and the field's own errors in view, not only the input.
    (field.closest(".field") || field).scrollIntoView({ block: "center" });
    field.focus({ preventScroll: true });
  });
})();
