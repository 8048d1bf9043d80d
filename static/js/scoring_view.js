// A scored pullback: draw the calcium map and arc (plotly.js, vendored), move through the frames
// with a slider or the keyboard (frame PNGs come from the server with the arcs drawn), and ask the
// API for the lesion ICS of a segment (computed from the stored map, not re-scored).
(function () {
  "use strict";
  var figures = document.getElementById("pullback-figures");
  if (figures && window.Plotly) {
    var data = JSON.parse(figures.textContent);
    [["calcium-map-chart", data.map], ["calcium-arc-chart", data.arc]].forEach(function (pair) {
      var element = document.getElementById(pair[0]);
      if (element && pair[1]) {
        window.Plotly.newPlot(element, pair[1].data, pair[1].layout, pair[1].config);
      }
    });
  }

  var viewer = document.getElementById("frame-viewer");
  if (viewer) {
    var slider = document.getElementById("frame-slider");
    var image = document.getElementById("frame-image");
    var position = document.getElementById("frame-position");
    var frames = parseInt(viewer.dataset.frames, 10);
    var spacing = parseFloat(viewer.dataset.spacingMm);
    var baseUrl = viewer.dataset.frameUrl.replace(/0\.png$/, "");
    var pending = null;

    var show = function (index) {
      index = Math.max(0, Math.min(frames - 1, index));
      slider.value = index;
      position.textContent = (index + 1) + " / " + frames + ", " + (index * spacing).toFixed(1) + " mm";
      window.clearTimeout(pending);
      pending = window.setTimeout(function () {  // while a key is held, load only where it stops
        image.src = baseUrl + index + ".png";
        image.alt = "Frame " + (index + 1) + " of " + frames + " with the detected calcium arcs in orange";
        viewer.dispatchEvent(new CustomEvent("framechange", { detail: { index: index } }));
      }, 60);
    };
    slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });
    viewer.addEventListener("keydown", function (event) {
      // The slider and the annotation form's fields handle their own arrow keys.
      if (event.target === slider || event.target.closest("form, button")) { return; }
      var steps = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: 10, PageDown: -10 };
      var current = parseInt(slider.value, 10);
      if (event.key in steps) {
        show(current + steps[event.key]);
      } else if (event.key === "Home") {
        show(0);
      } else if (event.key === "End") {
        show(frames - 1);
      } else {
        return;
      }
      event.preventDefault();
    });
  }

  var annotations = document.getElementById("annotations");
  if (viewer && annotations) { window.IcsAnnotations.init(viewer, annotations); }

  var form = document.getElementById("segment-form");
  if (form) {
    var result = document.getElementById("segment-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var query = new URLSearchParams(new FormData(form)).toString();
      fetch(form.action + "?" + query, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json().then(function (body) { return [response.ok, body]; }); })
        .then(function (answer) {
          var body = answer[1];
          if (!answer[0]) {
            result.textContent = Object.values(body).join(" ");
          } else if (body.ics === null) {
            result.textContent = "No frame lies between " + body.start_mm + " and " + body.end_mm + " mm.";
          } else {
            result.textContent = "Lesion ICS " + body.ics.toFixed(1) + " over " + body.frames + " frames (" +
              body.start_mm + "-" + body.end_mm + " mm), largest arc " + Math.round(body.max_arc_deg) + "°.";
          }
        })
        .catch(function () { result.textContent = "The lesion ICS could not be computed; try again."; });
    });
  }
})();
