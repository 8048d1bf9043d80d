// Event form: "involved the study vessel" applies to MI and revascularization only, and the
// revascularization method to revascularization only. Disabled selects are not submitted, so
// the server stores "unknown" / empty for other event types.
(function () {
  "use strict";
  var type = document.getElementById("id_event_type");
  var targetVessel = document.getElementById("id_target_vessel");
  var method = document.getElementById("id_revascularization_method");
  if (!type) {
    return;
  }

  function update() {
    var kind = type.value;
    if (targetVessel) {
      targetVessel.disabled = kind !== "mi" && kind !== "revascularization";
    }
    if (method) {
      method.disabled = kind !== "revascularization";
    }
  }

  type.addEventListener("change", update);
  update();
})();
