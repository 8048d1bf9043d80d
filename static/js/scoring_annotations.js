// Calcium annotations in the frame viewer: list and draw the current frame's annotated arcs (SVG
// over the frame image), add one by pressing on the image and dragging around the catheter, or
// with the degrees form (keyboard), and delete one. Talks to /api/pullbacks/<id>/annotations/.
//
// Angles: 0° at 3 o'clock, counter-clockwise as displayed (90° at 12 o'clock), about the image
// centre ((columns-1)/2, (rows-1)/2) in pixel-centre coordinates; image rows grow downwards, so
// the angle of a pixel (x, y) is atan2(cy - y, x - cx). An arc runs counter-clockwise from start
// to end; equal ends are the full circle (scoring/arcs.py).
window.IcsAnnotations = (function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function angleOf(x, y, cx, cy) {
    var degrees = Math.atan2(cy - y, x - cx) * 180 / Math.PI;
    return (degrees + 360) % 360;
  }

  function point(angle, r, cx, cy) {
    var t = angle * Math.PI / 180;
    return [cx + r * Math.cos(t), cy - r * Math.sin(t)];
  }

  // SVG path of the counter-clockwise (as displayed) arc from start to end. In SVG's y-down
  // coordinates counter-clockwise on screen is sweep-flag 0.
  function arcPath(start, end, r, cx, cy) {
    var span = ((end - start) % 360 + 360) % 360;
    if (span < 1e-9) {
      var a = point(start, r, cx, cy), b = point(start + 180, r, cx, cy);
      return "M" + a + " A" + r + "," + r + " 0 0 0 " + b + " A" + r + "," + r + " 0 0 0 " + a;
    }
    var p = point(start, r, cx, cy), q = point(end, r, cx, cy);
    return "M" + p + " A" + r + "," + r + " 0 " + (span > 180 ? 1 : 0) + " 0 " + q;
  }

  function csrfToken(root) {
    var input = root.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function init(viewer, root) {
    var layer = document.getElementById("annotation-layer");
    var list = document.getElementById("annotation-list");
    var form = document.getElementById("annotation-form");
    var message = document.getElementById("annotation-message");
    var url = root.dataset.url;
    var canAnnotate = root.dataset.canAnnotate === "true";
    var columns = parseInt(layer.dataset.columns, 10), rows = parseInt(layer.dataset.rows, 10);
    var cx = (columns - 1) / 2, cy = (rows - 1) / 2, radius = 0.44 * Math.min(columns, rows);
    var frame = 0;

    function say(text) { if (message) { message.textContent = text; } }

    function request(method, target, body) {
      var headers = { Accept: "application/json", "X-CSRFToken": csrfToken(root) };
      if (body) { headers["Content-Type"] = "application/json"; }
      return fetch(target, { method: method, credentials: "same-origin", headers: headers,
                             body: body ? JSON.stringify(body) : undefined })
        .then(function (response) {
          if (response.status === 204) { return [true, null]; }
          return response.json().then(function (data) { return [response.ok, data]; });
        });
    }

    function describe(a) {
      if (a.no_calcium) { return "Frame " + (a.frame + 1) + ": reviewed, no calcium"; }
      var span = ((a.end_deg - a.start_deg) % 360 + 360) % 360 || 360;
      return "Frame " + (a.frame + 1) + ": calcium from " + a.start_deg.toFixed(1) + "° to " + a.end_deg.toFixed(1) +
        "° (" + span.toFixed(0) + "° arc)" + (a.created_by ? ", by " + a.created_by : "");
    }

    function draw(items) {
      while (layer.firstChild) { layer.removeChild(layer.firstChild); }
      list.textContent = "";
      if (!items.length) {
        var none = document.createElement("li");
        none.textContent = "None.";
        list.appendChild(none);
      }
      items.forEach(function (a) {
        if (!a.no_calcium) {
          var path = document.createElementNS(SVG, "path");
          path.setAttribute("d", arcPath(a.start_deg, a.end_deg, radius, cx, cy));
          path.setAttribute("class", "annotation-arc");
          path.setAttribute("stroke-width", Math.max(3, rows / 80));
          layer.appendChild(path);
        }
        var item = document.createElement("li");
        item.textContent = describe(a);
        if (canAnnotate) {
          var remove = document.createElement("button");
          remove.type = "button";
          remove.textContent = "Delete";
          remove.setAttribute("aria-label", "Delete annotation: " + describe(a));
          remove.addEventListener("click", function () {
            request("DELETE", url + a.id + "/").then(function (answer) {
              say(answer[0] ? "Annotation deleted." : "The annotation could not be deleted.");
              load();
            });
          });
          item.appendChild(remove);
        }
        list.appendChild(item);
      });
    }

    function load() {
      request("GET", url + "?frame=" + frame).then(function (answer) {
        if (answer[0]) { draw(answer[1]); }
      }).catch(function () { say("The annotations could not be loaded."); });
    }

    function add(body) {
      return request("POST", url, body).then(function (answer) {
        if (answer[0]) {
          say("Annotation added: " + describe(answer[1]) + ".");
          load();
        } else {
          say("Not added: " + Object.values(answer[1]).join(" "));
        }
      }).catch(function () { say("The annotation could not be saved; try again."); });
    }

    viewer.addEventListener("framechange", function (event) {
      frame = event.detail.index;
      if (form) { form.elements.frame.value = frame + 1; }
      load();
    });

    if (canAnnotate) {
      // Drag: follow the pointer's angle, unwrapped, so the direction of the drag decides which
      // way round the arc goes; a full turn or more is the full circle.
      var drag = null, draft = null;
      var pixel = function (event) {
        var box = layer.getBoundingClientRect();
        // Continuous coordinates put pixel i on [i, i+1); its centre is i + 0.5.
        return [(event.clientX - box.left) * columns / box.width - 0.5,
                (event.clientY - box.top) * rows / box.height - 0.5];
      };
      layer.classList.add("drawing");
      layer.addEventListener("pointerdown", function (event) {
        if (event.shiftKey) { return; }  // Shift + drag pans the zoomed image (scoring_view.js)
        var p = pixel(event);
        drag = { start: angleOf(p[0], p[1], cx, cy), last: angleOf(p[0], p[1], cx, cy), turned: 0 };
        layer.setPointerCapture(event.pointerId);
        draft = document.createElementNS(SVG, "path");
        draft.setAttribute("class", "annotation-draft");
        draft.setAttribute("stroke-width", Math.max(3, rows / 80));
        layer.appendChild(draft);
        event.preventDefault();
      });
      layer.addEventListener("pointermove", function (event) {
        if (!drag) { return; }
        var p = pixel(event), now = angleOf(p[0], p[1], cx, cy);
        var step = ((now - drag.last + 540) % 360) - 180;  // shortest signed change
        drag.turned += step;
        drag.last = now;
        var ends = arcEnds(drag);
        draft.setAttribute("d", ends ? arcPath(ends[0], ends[1], radius, cx, cy) : "");
      });
      var finish = function (event) {
        if (!drag) { return; }
        var ends = arcEnds(drag);
        drag = null;
        if (draft) { layer.removeChild(draft); draft = null; }
        if (event.type === "pointerup" && ends) {
          add({ frame: frame, start_deg: round(ends[0]), end_deg: round(ends[1]) });
        }
      };
      layer.addEventListener("pointerup", finish);
      layer.addEventListener("pointercancel", finish);
    }

    function arcEnds(d) {
      if (Math.abs(d.turned) < 2) { return null; }  // a click, not a drag
      if (Math.abs(d.turned) >= 360) { return [d.start, d.start]; }
      return d.turned > 0 ? [d.start, d.last] : [d.last, d.start];
    }

    function round(angle) { return Math.round(angle * 10) / 10 % 360; }

    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var none = form.elements.no_calcium.checked;
        add({ frame: parseInt(form.elements.frame.value, 10) - 1, no_calcium: none,
              start_deg: none ? 0 : parseFloat(form.elements.start_deg.value || "0"),
              end_deg: none ? 0 : parseFloat(form.elements.end_deg.value || "0") });
      });
    }
    load();
  }

  return { init: init, angleOf: angleOf, arcPath: arcPath };
})();
