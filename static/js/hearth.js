/* Hearth's script for every page (the room has its own): on a fresh form, pick the time zone
   the browser reports, so that session times show in the person's own time; on a phone, fold
   the menu away behind one button and the directory's filters into their heading. Without it
   every page works, with everything shown. */
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

  var narrow = window.matchMedia("(max-width: 55.99rem)");

  function foldMenu() {
    var toggle = document.querySelector(".menu-toggle");
    var nav = document.getElementById("site-nav");
    if (!toggle || !nav) {
      return;
    }
    toggle.hidden = false;
    nav.setAttribute("data-collapsed", "");
    toggle.addEventListener("click", function () {
      var open = toggle.getAttribute("aria-expanded") === "true";
      toggle.setAttribute("aria-expanded", open ? "false" : "true");
      if (open) {
        nav.setAttribute("data-collapsed", "");
      } else {
        nav.removeAttribute("data-collapsed");
      }
    });
  }

  function foldFilters() {
    // Closed on a phone unless some filter is already chosen: the groups come first.
    var panel = document.querySelector("details[data-fold-on-phone]");
    if (panel && narrow.matches && !panel.hasAttribute("data-chosen")) {
      panel.open = false;
    }
  }

  function start() {
    guessTimeZones();
    foldMenu();
    foldFilters();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
