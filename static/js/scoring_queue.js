// Scoring queue: the list follows the workers by itself. Every few seconds, while the page is in
// sight, the page asks for itself again and swaps in the new queue (same origin, our own markup);
// a hiccup (server restart) waits a little longer.
(function () {
  "use strict";
  var queue = document.getElementById("scoring-queue");
  if (!queue || !window.fetch || !window.DOMParser) { return; }
  var every = 1000 * (parseFloat(queue.dataset.refreshSeconds) || 3);

  function refresh() {
    if (document.hidden) { window.setTimeout(refresh, every); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("scoring-queue");
        if (fresh) { queue.replaceChildren.apply(queue, Array.prototype.slice.call(fresh.childNodes)); }
        window.setTimeout(refresh, every);
      })
      .catch(function () { window.setTimeout(refresh, 3 * every); });
  }
  window.setTimeout(refresh, every);
})();
