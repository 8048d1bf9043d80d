// A scored pullback: the calcium map and arc (plotly.js, vendored), the frame viewer (slider, keys,
// cine at the acquisition frame rate, zoom and pan; frame PNGs come from the server with the arcs
// drawn), the longitudinal (L-mode) cut at a chosen angle, and the lesion ICS of a segment
// (computed by the API from the stored map, not re-scored). Clicking the map, the arc or the L-mode
// shows that frame; a blue line on each marks the frame shown.
//
// The keys are one table (KEYS): the viewer's help is drawn from it and the key handler reads it.
window.IcsViewer = (function () {
  "use strict";
  var PAGE_STEP = 10;  // frames per Page Up / Page Down
  var ZOOMS = [1, 1.5, 2, 3, 4, 6, 8];
  var PAN_STEP = 0.1;  // of the visible image per Shift + arrow
  var PREFETCH = 4;  // frames requested ahead while the cine plays
  var SETTLE_MS = 150;  // the annotations follow a frame shown this long

  // The figures are in the page (a pullback's own page) or fetched when the view comes near the
  // screen (the patient page paints first and fetches them when the reader scrolls to Imaging).
  function figureData() {
    var inline = document.getElementById("pullback-figures");
    if (inline) { return Promise.resolve(JSON.parse(inline.textContent)); }
    var holder = document.getElementById("pullback-view");
    var url = holder && holder.dataset.figuresUrl;
    if (!url) { return Promise.resolve(null); }
    return new Promise(function (resolve) {
      if (!("IntersectionObserver" in window)) { resolve(); return; }
      var observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) { observer.disconnect(); resolve(); }
      }, { rootMargin: "400px" });
      observer.observe(holder);
    }).then(function () {
      var figures = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) { throw new Error("figures: HTTP " + response.status); }
          return response.json();
        });
      return Promise.all([figures, loadScript(holder.dataset.plotlySrc)]).then(function (both) { return both[0]; });
    });
  }

  // plotly.js (4.8 MB) is not part of a lazy view's page load: it is fetched once the page has
  // loaded and the browser is idle (or when the view comes into sight, if that is sooner).
  var scripts = {};
  function loadScript(src) {
    if (window.Plotly || !src) { return Promise.resolve(); }
    if (!scripts[src]) {
      scripts[src] = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = function () { delete scripts[src]; reject(new Error("could not load " + src)); };
        document.head.appendChild(script);
      });
    }
    return scripts[src];
  }
  var lazyHolder = document.getElementById("pullback-view");
  if (lazyHolder && lazyHolder.dataset.plotlySrc) {
    window.addEventListener("load", function () {
      var later = window.requestIdleCallback || function (callback) { window.setTimeout(callback, 200); };
      later(function () { loadScript(lazyHolder.dataset.plotlySrc).catch(function () {}); });
    });
  }

  function drawFigures(data, drawn) {
    if (!data || !window.Plotly) { return drawn; }
    [["map", "calcium-map-chart"], ["arc", "calcium-arc-chart"]].forEach(function (pair) {
      var element = document.getElementById(pair[1]);
      var figure = data[pair[0]];
      if (element && figure) {
        window.Plotly.newPlot(element, figure.data, figure.layout, figure.config);
        drawn[pair[0]] = element;
      }
    });
    return drawn;
  }

  // Frame images: only one request at a time, and the newest wish wins (a held key or the cine
  // never queues up a backlog of frames the server has yet to draw).
  function frameLoader(image, baseUrl, frames, onShown) {
    var state = { loading: !image.complete, requested: 0, wanted: 0 };
    function request(index) {
      state.wanted = index;
      if (state.loading || index === state.requested) { return; }
      state.loading = true;
      state.requested = index;
      image.src = baseUrl + index + ".png";
    }
    function done() {
      state.loading = false;
      onShown(state.requested);
      if (state.wanted !== state.requested) { request(state.wanted); }
    }
    image.addEventListener("load", done);
    image.addEventListener("error", done);
    if (!state.loading) { onShown(0); }  // the page's own first frame
    var ahead = {};
    function prefetch(from) {
      Object.keys(ahead).forEach(function (key) { if (+key < from) { delete ahead[key]; } });
      for (var i = from; i < Math.min(frames, from + PREFETCH); i += 1) {
        if (!ahead[i]) { ahead[i] = new Image(); ahead[i].src = baseUrl + i + ".png"; }
      }
    }
    return { request: request, prefetch: prefetch, busy: function () { return state.loading; } };
  }

  function init(viewer, charts) {
    var slider = document.getElementById("frame-slider");
    var image = document.getElementById("frame-image");
    var position = document.getElementById("frame-position");
    var playButton = document.getElementById("cine-play");
    var frames = parseInt(viewer.dataset.frames, 10);
    var spacing = parseFloat(viewer.dataset.spacingMm);
    var rate = parseFloat(viewer.dataset.cineRateHz) || 30;
    var current = 0, settleTimer = null, announced = 0, markPending = false;

    var loader = frameLoader(image, viewer.dataset.frameUrl.replace(/0\.png$/, ""), frames, function (index) {
      viewer.dataset.shownFrame = index;
      image.alt = "Frame " + (index + 1) + " of " + frames + " with the detected calcium arcs in orange";
    });

    function markers() {
      markPending = false;
      var x = current * spacing;
      Object.keys(charts).forEach(function (name) {
        window.Plotly.relayout(charts[name], { "shapes[0].x0": x, "shapes[0].x1": x });
      });
      lmode.mark(current);
    }

    function settle() {
      if (cine.playing() || announced === current) { return; }
      announced = current;
      viewer.dispatchEvent(new CustomEvent("framechange", { detail: { index: current } }));
    }

    function show(index) {
      current = Math.max(0, Math.min(frames - 1, index));
      slider.value = current;
      viewer.dataset.frame = current;
      position.textContent = (current + 1) + " / " + frames + ", " + (current * spacing).toFixed(1) + " mm";
      loader.request(current);
      if (!markPending) { markPending = true; window.requestAnimationFrame(markers); }
      window.clearTimeout(settleTimer);
      settleTimer = window.setTimeout(settle, SETTLE_MS);
    }

    // Cine: one frame per 1/rate s, and never ahead of the images (a slow server slows the cine
    // rather than skipping frames). Stops at the last frame; Play at the end starts again.
    var cine = (function () {
      var playing = false, last = 0;
      function tick(now) {
        if (!playing) { return; }
        if (now - last >= 1000 / rate && !loader.busy()) {
          if (current >= frames - 1) { stop(); return; }
          last = Math.max(last + 1000 / rate, now - 1000 / rate);
          show(current + 1);
          loader.prefetch(current + 1);
        }
        window.requestAnimationFrame(tick);
      }
      function start() {
        if (current >= frames - 1) { show(0); }
        playing = true;
        last = window.performance.now();
        playButton.setAttribute("aria-pressed", "true");
        position.setAttribute("aria-live", "off");  // not thirty announcements a second
        loader.prefetch(current + 1);
        window.requestAnimationFrame(tick);
      }
      function stop() {
        playing = false;
        playButton.setAttribute("aria-pressed", "false");
        position.setAttribute("aria-live", "polite");
        settle();
      }
      return {
        toggle: function () { if (playing) { stop(); } else { start(); } },
        playing: function () { return playing; },
      };
    })();
    playButton.addEventListener("click", cine.toggle);

    var zoom = zoomer(document.getElementById("frame-stage"), document.getElementById("frame-zoom"));

    var lmode = lmodeView(document.getElementById("lmode"), frames, show);

    var keys = [
      { keys: ["ArrowRight", "ArrowUp"], shift: false, label: "→ or ↑", help: "next frame",
        run: function () { show(current + 1); } },
      { keys: ["ArrowLeft", "ArrowDown"], shift: false, label: "← or ↓", help: "previous frame",
        run: function () { show(current - 1); } },
      { keys: ["PageUp"], label: "Page Up", help: PAGE_STEP + " frames forward",
        run: function () { show(current + PAGE_STEP); } },
      { keys: ["PageDown"], label: "Page Down", help: PAGE_STEP + " frames back",
        run: function () { show(current - PAGE_STEP); } },
      { keys: ["Home"], label: "Home", help: "first frame", run: function () { show(0); } },
      { keys: ["End"], label: "End", help: "last frame", run: function () { show(frames - 1); } },
      { keys: [" "], label: "Space", help: "play or pause the cine", run: cine.toggle },
      { keys: ["+", "="], label: "+", help: "zoom in", run: function () { zoom.step(1); } },
      { keys: ["-", "_"], label: "−", help: "zoom out", run: function () { zoom.step(-1); } },
      { keys: ["0"], label: "0", help: "reset the zoom", run: function () { zoom.reset(); } },
      { keys: ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"], shift: true, label: "Shift + arrows",
        help: "move the zoomed image", run: function (event) { zoom.panKey(event.key); } },
    ];
    renderKeys(document.getElementById("viewer-keys"), keys);

    viewer.addEventListener("keydown", function (event) {
      if (ignoredKey(event, slider)) { return; }
      var entry = keys.find(function (k) {
        return k.keys.indexOf(event.key) !== -1 && (k.shift === undefined || k.shift === event.shiftKey);
      });
      if (!entry) { return; }
      event.preventDefault();  // also the slider's own Page Up/Down (a tenth of the range, not ten frames)
      entry.run(event);
    });
    slider.addEventListener("input", function () { show(parseInt(slider.value, 10)); });

    // The charts arrive after the viewer works (figureData): then a click on them shows that frame.
    function chartsReady() {
      Object.keys(charts).forEach(function (name) {
        charts[name].on("plotly_click", function (data) {
          if (!data.points.length) { return; }
          show(Math.round(data.points[0].x / spacing));
          viewer.focus({ preventScroll: true });  // the keys work from here on
        });
      });
      markers();
    }
    show(0);
    return { keys: keys, show: show, zoom: zoom, cine: cine, chartsReady: chartsReady };
  }

  // Keys typed into a field, and Space or Enter on a button or link, are theirs; the frame slider's
  // keys are the viewer's. A modifier other than Shift is the browser's (Ctrl + is page zoom).
  function ignoredKey(event, slider) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return true; }
    if (target === slider) { return false; }
    if (target.closest("form") || target.matches("input, select, textarea")) { return true; }
    return target.matches("button, a") && (event.key === " " || event.key === "Enter");
  }

  function renderKeys(list, keys) {
    if (!list) { return; }
    keys.forEach(function (entry) {
      var term = document.createElement("dt");
      var kbd = document.createElement("kbd");
      kbd.textContent = entry.label;
      term.appendChild(kbd);
      var description = document.createElement("dd");
      description.textContent = entry.help;
      list.appendChild(term);
      list.appendChild(description);
    });
  }

  // Zoom (CSS transform of the image and its overlays; the pixels stay square and crisp) and pan,
  // by dragging (Shift + drag where dragging draws an annotation) or Shift + arrow keys.
  function zoomer(stage, content) {
    var level = 0, pan = { x: 0, y: 0 };
    var output = document.getElementById("zoom-level");
    var buttons = { in: document.getElementById("zoom-in"), out: document.getElementById("zoom-out"),
                    reset: document.getElementById("zoom-reset") };
    function scale() { return ZOOMS[level]; }
    function clamp() {
      var w = stage.clientWidth, h = stage.clientHeight;
      pan.x = Math.min(0, Math.max(w - w * scale(), pan.x));
      pan.y = Math.min(0, Math.max(h - h * scale(), pan.y));
    }
    function apply() {
      clamp();
      content.style.setProperty("--zoom", scale());
      content.style.setProperty("--pan-x", pan.x + "px");
      content.style.setProperty("--pan-y", pan.y + "px");
      stage.classList.toggle("zoomed", scale() > 1);
      output.textContent = Math.round(scale() * 100) + "%";
      buttons.in.disabled = level === ZOOMS.length - 1;
      buttons.out.disabled = level === 0;
    }
    function to(newLevel) {  // keeps the middle of what is visible in the middle
      newLevel = Math.max(0, Math.min(ZOOMS.length - 1, newLevel));
      var cx = stage.clientWidth / 2, cy = stage.clientHeight / 2, ratio = ZOOMS[newLevel] / scale();
      pan.x = cx - (cx - pan.x) * ratio;
      pan.y = cy - (cy - pan.y) * ratio;
      level = newLevel;
      apply();
    }
    function panBy(dx, dy) { pan.x += dx; pan.y += dy; apply(); }
    var directions = { ArrowLeft: [1, 0], ArrowRight: [-1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };

    var drag = null;
    stage.addEventListener("pointerdown", function (event) {
      var drawing = event.target.closest(".annotation-layer.drawing");
      if (scale() === 1 || (drawing && !event.shiftKey) || event.button !== 0) { return; }
      drag = { x: event.clientX, y: event.clientY, panX: pan.x, panY: pan.y };
      stage.setPointerCapture(event.pointerId);
      stage.classList.add("panning");
      event.preventDefault();
    });
    stage.addEventListener("pointermove", function (event) {
      if (!drag) { return; }
      pan.x = drag.panX + event.clientX - drag.x;
      pan.y = drag.panY + event.clientY - drag.y;
      apply();
    });
    ["pointerup", "pointercancel"].forEach(function (type) {
      stage.addEventListener(type, function () { drag = null; stage.classList.remove("panning"); });
    });
    buttons.in.addEventListener("click", function () { to(level + 1); });
    buttons.out.addEventListener("click", function () { to(level - 1); });
    buttons.reset.addEventListener("click", function () { to(0); });
    apply();
    return {
      step: function (direction) { to(level + direction); },
      reset: function () { to(0); },
      panKey: function (key) {
        var d = directions[key];
        panBy(d[0] * PAN_STEP * stage.clientWidth, d[1] * PAN_STEP * stage.clientHeight);
      },
      scale: scale,
    };
  }

  // L-mode: the server's cut at the chosen angle, the frame shown as a line, a click shows that
  // frame; the cut is drawn on the frame image (dashed line, a dot at the angle's end).
  function lmodeView(section, frames, show) {
    if (!section) { return { mark: function () {} }; }
    var image = document.getElementById("lmode-image");
    var stage = document.getElementById("lmode-stage");
    var marker = document.getElementById("lmode-marker");
    var range = document.getElementById("lmode-angle");
    var number = document.getElementById("lmode-angle-number");
    var status = document.getElementById("lmode-status");
    var timer = null, angle = 0;

    function drawCut() {
      var layer = document.getElementById("cut-layer");
      var box = layer.viewBox.baseVal;
      var r = (Math.min(box.width, box.height) - 1) / 2, t = angle * Math.PI / 180;
      var cx = box.width / 2, cy = box.height / 2, dx = r * Math.cos(t), dy = -r * Math.sin(t);
      var line = document.getElementById("cut-line"), end = document.getElementById("cut-end");
      line.setAttribute("x1", cx + dx); line.setAttribute("y1", cy + dy);
      line.setAttribute("x2", cx - dx); line.setAttribute("y2", cy - dy);
      end.setAttribute("cx", cx + dx); end.setAttribute("cy", cy + dy);
      end.setAttribute("r", Math.max(4, box.height / 60));
    }
    function load() {
      status.textContent = "Drawing the cut at " + angle + "°…";
      image.src = section.dataset.url + "?angle_deg=" + angle;
    }
    function choose(value, wait) {
      value = Math.round(Number(value));
      if (!isFinite(value)) { return; }
      angle = ((value % 360) + 360) % 360;
      range.value = angle;
      number.value = angle;
      drawCut();
      window.clearTimeout(timer);
      timer = window.setTimeout(load, wait);
    }
    image.addEventListener("load", function () {
      status.textContent = "";
      image.alt = "Longitudinal cut of the pullback at " + angle + "° and " + ((angle + 180) % 360) + "°";
    });
    image.addEventListener("error", function () { status.textContent = "The longitudinal view could not be drawn."; });
    range.addEventListener("input", function () { choose(range.value, 300); });
    number.addEventListener("input", function () { if (number.value !== "") { choose(number.value, 500); } });
    number.addEventListener("change", function () { choose(number.value || 0, 0); });
    stage.addEventListener("click", function (event) {
      var box = stage.getBoundingClientRect();
      show(Math.floor((event.clientX - box.left) / box.width * frames));
      document.getElementById("frame-viewer").focus({ preventScroll: true });
    });
    drawCut();
    return {
      // Frame i is at (i + 0.5) / frames of the image's width (scoring/dicom/lmode.py).
      mark: function (index) { marker.style.setProperty("--frame-fraction", (index + 0.5) / frames); },
      angle: function () { return angle; },
    };
  }

  var charts = {};
  var viewer = document.getElementById("frame-viewer");
  var api = viewer ? init(viewer, charts) : null;
  figureData().then(function (data) {
    drawFigures(data, charts);
    if (api) { api.chartsReady(); }
  }).catch(function () {
    var plots = document.querySelector(".viewer-plots");
    if (plots) {
      var note = document.createElement("p");
      note.className = "errors";
      note.textContent = "The calcium map could not be loaded; reload the page to try again.";
      plots.insertBefore(note, plots.firstChild);
    }
  });

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
  return api;
})();
