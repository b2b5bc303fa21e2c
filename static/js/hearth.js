/* Hearth's script for every page (the room has its own): it tells the server the time zone
   the browser reports, so that session times show in the person's own time (on a fresh form
   it picks that zone; for people not logged in it keeps it in a "tz" cookie, which the server
   checks against the zones it knows); on a phone, it folds the menu away behind one button and
   the directory's filters into their heading. Without it every page works, with everything
   shown, in UTC for visitors. */
(function () {
  "use strict";

  function guessTimeZones() {
    // A form with errors was submitted already: keep what the person chose.
    if (document.querySelector(".errorlist")) {
      return;
    }
    var zone = browserZone();
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

  function browserZone() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    } catch (error) {
      return "";
    }
  }

  function cookieZone() {
    var match = document.cookie.match(/(?:^|;\s*)tz=([^;]*)/);
    return match ? match[1] : "";
  }

  // Only pages for people not logged in carry data-time-zone (logged-in people have the zone
  // in their profile). If the page was drawn in another zone and the cookie did not hold this
  // one yet, keep it and draw the page again once, so its times (or, on "Get help now", the
  // country it guesses) are right at once. A zone the
  // server does not know leaves the cookie set and the page in UTC, so this never loops.
  function rememberTimeZone() {
    var shown = document.body.getAttribute("data-time-zone");
    var zone = browserZone();
    // IANA names are letters, digits and _ + - /, all safe in a cookie as they are.
    if (!shown || !/^[A-Za-z0-9_+\/-]+$/.test(zone) || zone === cookieZone()) {
      return;
    }
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" +
      (window.location.protocol === "https:" ? "; Secure" : "");
    if (zone !== shown && document.querySelector("time, [data-depends-on-time-zone]")) {
      window.location.reload();
    }
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
    rememberTimeZone();
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
