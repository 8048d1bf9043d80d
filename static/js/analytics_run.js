// Analysis result and report pages: draw the Plotly figures (plotly.js from static/vendor), switch
// the Kaplan-Meier scale, add an SVG download next to Plotly's PNG one, poll a running analysis.
(function () {
  "use strict";
  var data = document.getElementById("analysis-figures");
  var figures = data ? JSON.parse(data.textContent) : {};

  function config(figure) {
    var cfg = Object.assign({}, figure.config || {});
    var filename = (cfg.toImageButtonOptions || {}).filename || "chart";
    cfg.modeBarButtonsToAdd = [{
      name: "Download plot as SVG",
      icon: window.Plotly.Icons.disk,
      click: function (gd) {
        window.Plotly.downloadImage(gd, { format: "svg", filename: filename, width: 900, height: 560 });
      }
    }];
    return cfg;
  }

  function draw(element, name) {
    var figure = figures[name];
    if (!figure || !window.Plotly) {
      return;
    }
    element.dataset.figure = name;
    window.Plotly.react(element, figure.data, figure.layout, config(figure));
  }

  document.querySelectorAll(".chart[data-figure]").forEach(function (element) {
    draw(element, element.dataset.figure);
  });

  document.querySelectorAll('input[name="km-scale"]').forEach(function (radio) {
    radio.addEventListener("change", function () {
      draw(document.getElementById("chart-km"), radio.value);
    });
  });

  var printButton = document.getElementById("print-report");
  if (printButton) {
    printButton.addEventListener("click", function () { window.print(); });
  }

  window.pollProgress({
    box: document.getElementById("analysis-run"),
    bar: document.getElementById("run-progress"),
    percent: document.getElementById("run-percent"),
    status: document.getElementById("run-status"),
    isDone: function (run) { return run.done; },
  });
})();
