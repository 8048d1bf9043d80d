// The home page's two small charts (patients by year of the index procedure, and by ICS), drawn
// with plotly.js from static/vendor from the json_script blocks; each has its numbers in words too.
(function () {
  "use strict";
  if (!window.Plotly) {
    return;
  }
  var config = { responsive: true, displayModeBar: false };
  var layout = function (xTitle, yTitle) {
    return {
      margin: { t: 10, r: 10, b: 45, l: 50 },
      height: 220,
      xaxis: { title: { text: xTitle } },
      yaxis: { title: { text: yTitle }, rangemode: "tozero" },
      showlegend: false,
    };
  };
  var recruitment = document.getElementById("data-recruitment");
  var recruitmentChart = document.getElementById("chart-recruitment");
  if (recruitment && recruitmentChart) {
    var r = JSON.parse(recruitment.textContent);
    window.Plotly.newPlot(
      recruitmentChart,
      [{ x: r.years, y: r.patients, type: "bar", marker: { color: "#0b5cad" }, hovertemplate: "%{x}: %{y} patients<extra></extra>" }],
      layout("Year of the index procedure", "Patients"),
      config
    );
  }
  var ics = document.getElementById("data-ics");
  var icsChart = document.getElementById("chart-ics");
  if (ics && icsChart) {
    var d = JSON.parse(ics.textContent);
    if (d.n) {
      var x = d.bins.map(function (b) { return (b.from + b.to) / 2; });
      var y = d.bins.map(function (b) { return b.count; });
      var text = d.bins.map(function (b) { return b.from + "–" + b.to; });
      var l = layout("ICS", "Patients");
      l.shapes = [{ type: "line", x0: d.cutoff, x1: d.cutoff, yref: "paper", y0: 0, y1: 1, line: { color: "#b42318", dash: "dot" } }];
      l.annotations = [{ x: d.cutoff, yref: "paper", y: 1, text: "cut-off " + d.cutoff, showarrow: false, xanchor: "left", font: { size: 11, color: "#b42318" } }];
      l.bargap = 0.05;
      window.Plotly.newPlot(
        icsChart,
        [{ x: x, y: y, width: d.bins.map(function (b) { return b.to - b.from; }), type: "bar", text: text, marker: { color: "#3e7cb1" }, hovertemplate: "ICS %{text}: %{y} patients<extra></extra>", textposition: "none" }],
        l,
        config
      );
    }
  }
})();
