// Analysis result and report pages: draw the Plotly figures (plotly.js from static/vendor), switch
// the Kaplan-Meier scale, download a figure at a journal size (PNG at 300 dpi, SVG in mm; the PDF
// links are the server's), poll a running analysis.
(function () {
  "use strict";
  var data = document.getElementById("analysis-figures");
  var figures = data ? JSON.parse(data.textContent) : {};
  var PRINT_DPI = 300;

  function draw(element, name) {
    var figure = figures[name];
    if (!figure || !window.Plotly) {
      return;
    }
    element.dataset.figure = name;
    window.Plotly.react(element, figure.data, figure.layout, figure.config);  // toolbar: chart_toolbar.js
    document.querySelectorAll('a[data-pdf-for="' + element.id + '"]').forEach(function (link) {
      link.href = link.dataset.url.replace("FIGURE", name) + "?size=" + link.dataset.size;
    });
  }

  // Downloads --------------------------------------------------------------------------------------

  function save(blob, filename) {
    var link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 10000);
  }

  var crcTable = null;
  function crc32(bytes) {
    if (!crcTable) {
      crcTable = [];
      for (var n = 0; n < 256; n++) {
        var c = n;
        for (var k = 0; k < 8; k++) { c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1; }
        crcTable.push(c >>> 0);
      }
    }
    var crc = 0xffffffff;
    for (var i = 0; i < bytes.length; i++) { crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8); }
    return (crc ^ 0xffffffff) >>> 0;
  }

  // A canvas PNG says nothing of its resolution (an editor assumes 72 or 96 dpi); a pHYs chunk
  // after the header says 300 dpi, so that 1004 pixels print 85 mm wide.
  function pngWithDpi(dataUrl, dpi) {
    var binary = atob(dataUrl.slice(dataUrl.indexOf(",") + 1));
    var png = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { png[i] = binary.charCodeAt(i); }
    var perMetre = Math.round(dpi / 0.0254);
    var chunk = new Uint8Array(21);
    var view = new DataView(chunk.buffer);
    view.setUint32(0, 9);
    chunk.set([0x70, 0x48, 0x59, 0x73], 4); // "pHYs"
    view.setUint32(8, perMetre);
    view.setUint32(12, perMetre);
    chunk[16] = 1; // unit: metre
    view.setUint32(17, crc32(chunk.subarray(4, 17)));
    var headerEnd = 8 + 25; // signature, then the IHDR chunk (13 bytes of data)
    var out = new Uint8Array(png.length + chunk.length);
    out.set(png.subarray(0, headerEnd), 0);
    out.set(chunk, headerEnd);
    out.set(png.subarray(headerEnd), headerEnd + chunk.length);
    return new Blob([out], { type: "image/png" });
  }

  // Plotly's SVG is sized in pixels; a journal's editor wants millimetres (the drawing is unchanged).
  function svgInMillimetres(dataUrl, size) {
    var text = decodeURIComponent(dataUrl.slice(dataUrl.indexOf(",") + 1));
    var doc = new DOMParser().parseFromString(text, "image/svg+xml");
    var root = doc.documentElement;
    if (!root.getAttribute("viewBox")) {
      root.setAttribute("viewBox", "0 0 " + size.width + " " + size.height);
    }
    root.setAttribute("width", size.width_mm + "mm");
    root.setAttribute("height", size.height_mm + "mm");
    return new Blob([new XMLSerializer().serializeToString(doc)], { type: "image/svg+xml" });
  }

  function download(button) {
    var element = document.getElementById(button.dataset.chart);
    var figure = element && figures[element.dataset.figure];
    var size = figure && figure.exports && figure.exports[button.dataset.size];
    if (!size) {
      return;
    }
    var format = button.dataset.download;
    var filename = ((figure.config.toImageButtonOptions || {}).filename || "figure") + "-" + button.dataset.size + "-column";
    var layout = Object.assign({}, size.layout, { width: size.width, height: size.height });
    var options = { format: format, width: size.width, height: size.height, scale: format === "png" ? size.scale : 1 };
    button.disabled = true;
    window.Plotly.toImage({ data: figure.data, layout: layout, config: { staticPlot: true } }, options)
      .then(function (url) {
        save(format === "png" ? pngWithDpi(url, PRINT_DPI) : svgInMillimetres(url, size), filename + "." + format);
      })
      .finally(function () { button.disabled = false; });
  }

  document.querySelectorAll("button[data-download]").forEach(function (button) {
    button.addEventListener("click", function () { download(button); });
  });

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
