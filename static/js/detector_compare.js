// Admin "compare detector models" page: draw the Bland-Altman figure (plotly.js from static/vendor).
(function () {
  "use strict";
  var data = document.getElementById("compare-figure");
  var chart = document.getElementById("compare-chart");
  if (!data || !chart || !window.Plotly) {
    return;
  }
  var figure = JSON.parse(data.textContent);
  window.Plotly.react(chart, figure.data, figure.layout, figure.config);
})();
