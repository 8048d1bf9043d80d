// A wave's dashboard: the response rate by day (questionnaires returned per letter sent, counted
// from the first letter), drawn with plotly.js from static/vendor. The data comes from the
// "response-over-time" json_script block; the table under the chart says the same in words.
(function () {
  "use strict";
  var data = document.getElementById("response-over-time");
  var element = document.getElementById("chart-response");
  if (!data || !element || !window.Plotly) {
    return;
  }
  var series = JSON.parse(data.textContent);
  var hover = series.dates.map(function (day, i) {
    return day + "<br>" + series.returned[i] + " returned of " + series.sent[i] + " sent";
  });
  var trace = {
    x: series.dates,
    y: series.rate,
    type: "scatter",
    mode: "lines",
    line: { shape: "hv", color: "#0b5cad", width: 2 },
    name: "Response rate",
    text: hover,
    hovertemplate: "%{text}<br>%{y:.1f}%<extra></extra>",
  };
  var layout = {
    margin: { t: 20, r: 20, b: 50, l: 60 },
    xaxis: { title: { text: "Date" }, type: "date", tickformat: "%Y-%m-%d" },
    yaxis: { title: { text: "Returned per letter sent (%)" }, range: [0, 100], ticksuffix: "%" },
    showlegend: false,
  };
  var config = {
    responsive: true,
    displaylogo: false,
    showSendToCloud: false,
    modeBarButtonsToRemove: ["sendDataToCloud", "select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    toImageButtonOptions: { filename: "response-over-time" },
  };
  window.Plotly.react(element, [trace], layout, config);  // its toolbar stays out of the Tab order (chart_toolbar.js)
})();
