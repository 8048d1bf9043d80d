// Every page: Plotly's toolbar buttons are <button>s, so without this Tab would stop at each of them
// on every chart. They stay out of the Tab order wherever and whenever a chart draws its toolbar
// (the pages offer their own download buttons, and zooming needs a pointer anyway).
(function () {
  "use strict";
  var SELECTOR = ".modebar-btn, .modebar a";

  function untabbable(root) {
    if (root.matches && root.matches(SELECTOR)) { root.setAttribute("tabindex", "-1"); }
    if (root.querySelectorAll) {
      root.querySelectorAll(SELECTOR).forEach(function (button) { button.setAttribute("tabindex", "-1"); });
    }
  }

  untabbable(document);
  new MutationObserver(function (changes) {
    changes.forEach(function (change) { change.addedNodes.forEach(untabbable); });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
