// The patient's questionnaire (/q/): after a submit with errors, move the focus to the error
// summary (screen readers read it out), and let each of its links put the cursor in its field.
document.addEventListener("DOMContentLoaded", () => {
  const summary = document.getElementById("error-summary");
  if (!summary) return;
  summary.focus();
  summary.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    const field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    event.preventDefault();
    for (let parent = field.closest("details"); parent; parent = parent.parentElement.closest("details")) {
      parent.open = true;
    }
    // The question (its legend) in view, not only the input.
    (field.closest("fieldset") || field).scrollIntoView();
    field.focus({ preventScroll: true });
  });
});
