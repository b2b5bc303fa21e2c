/* Hearth: the only script. On a fresh form, pick the time zone the browser reports,
   so that session times show in the person's own time. Nothing else. */
(function () {
  "use strict";

  function guessTimeZones() {
    // A form with errors was submitted already: keep what the person chose.
    if (document.querySelector(".errorlist")) {
      return;
    }
    var zone;
    try {
      zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (error) {
      return;
    }
    if (!zone) {
      return;
    }
    var selects = document.querySelectorAll("select[data-guess-time-zone]");
    Array.prototype.forEach.call(selects, function (select) {
      if (select.value !== "UTC") {
        return;
      }
      var known = Array.prototype.some.call(select.options, function (option) {
        return option.value === zone;
      });
      if (known) {
        select.value = zone;
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", guessTimeZones);
  } else {
    guessTimeZones();
  }
})();
