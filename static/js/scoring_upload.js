// Upload page: each chosen or dropped file is sent on its own (XMLHttpRequest, so that upload
// progress events give a per-file progress bar) to the pullback API; the answer is shown per file.
(function () {
  "use strict";
  var zone = document.getElementById("pullback-upload");
  if (!zone) { return; }
  var input = document.getElementById("pullback-files");
  var list = document.getElementById("pullback-upload-list");
  var maxBytes = parseInt(zone.dataset.maxBytes, 10);
  var csrf = zone.querySelector("input[name=csrfmiddlewaretoken]").value;

  function row(file) {
    var item = document.createElement("li");
    var label = document.createElement("span");
    var bar = document.createElement("progress");
    var message = document.createElement("span");
    label.textContent = file.name + " ";
    bar.max = 100;
    bar.value = 0;
    message.className = "upload-message";
    item.append(label, bar, message);
    list.appendChild(item);
    return { bar: bar, message: message };
  }

  function errorText(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      return (body.file || body.detail || [JSON.stringify(body)]).toString();
    } catch (e) {
      return "Upload failed (" + xhr.status + ").";
    }
  }

  function send(file) {
    var ui = row(file);
    if (file.size > maxBytes) {
      ui.message.textContent = " Too large: the limit is " + Math.floor(maxBytes / 1048576) + " MB.";
      return;
    }
    var data = new FormData();
    data.append("file", file);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", zone.dataset.uploadUrl);
    xhr.setRequestHeader("X-CSRFToken", csrf);
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { ui.bar.value = Math.round(100 * event.loaded / event.total); }
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 201 || xhr.status === 200) {
        var body = JSON.parse(xhr.responseText);
        ui.bar.value = 100;
        var link = document.createElement("a");
        link.href = "/pullbacks/" + body.id + "/";
        link.textContent = body.duplicate ? " already uploaded: pullback #" + body.id : " stored as pullback #" + body.id + ", scoring queued";
        ui.message.appendChild(link);
      } else {
        ui.message.textContent = " " + errorText(xhr);
      }
    });
    xhr.addEventListener("error", function () { ui.message.textContent = " Network error: the upload did not finish."; });
    xhr.send(data);
  }

  function sendAll(files) {
    Array.prototype.forEach.call(files, send);
  }

  // With this script each file goes on its own as soon as it is chosen; the plain form (one file,
  // JSON answer) is the fallback without JavaScript.
  document.getElementById("pullback-submit").hidden = true;
  zone.addEventListener("submit", function (event) { event.preventDefault(); });
  input.addEventListener("change", function () { sendAll(input.files); input.value = ""; });
  zone.addEventListener("dragover", function (event) { event.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", function () { zone.classList.remove("dragging"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("dragging");
    sendAll(event.dataTransfer.files);
  });
})();
