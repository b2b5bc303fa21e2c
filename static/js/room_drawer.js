/* Hearth: the live room on a narrow screen (issue 16, "a room made for phones").

   The room fills the screen: the conversation, with the box to write in at the bottom (the
   stylesheet does that for body.room-app). "Who is here", the facilitator's controls and help
   live in the side column; on a narrow screen a bar of buttons opens one of them at a time in
   the conversation's place (a disclosure: the button says whether it is open, focus moves to
   the panel's heading, "Back to the conversation" or Escape closes it and focus goes back to
   the button). "Get help now" stays in the site header, one tap away, whatever is open.
   On a wide screen the side column shows everything at once and the bar is not shown.
   Without JavaScript none of this happens and the room is one long readable page. */
(function () {
  "use strict";

  var room = document.getElementById("room");
  var side = document.getElementById("room-side");
  var bar = document.getElementById("room-bar");
  // room.js needs the same two things; without them the room stays a plain page.
  if (!room || !side || !bar || !document.getElementById("room-config") || !("WebSocket" in window)) {
    return;
  }

  var narrow = window.matchMedia("(max-width: 55.99rem)");
  var buttons = Array.prototype.slice.call(bar.querySelectorAll("button[data-panel]"));
  var closeButton = document.getElementById("room-side-close");
  var news = document.getElementById("room-side-news");
  var list = document.getElementById("messages");
  var controls = document.getElementById("controls");
  var current = null; // the panel showing, if any
  var opener = null; // the button that showed it
  var unseen = 0; // messages that arrived while a panel covered the conversation

  document.body.classList.add("room-app");
  bar.hidden = false;

  function buttonFor(name) {
    return bar.querySelector('button[data-panel="' + name + '"]');
  }

  function open(name, button) {
    current = name;
    opener = button;
    room.setAttribute("data-open", name);
    buttons.forEach(function (each) {
      each.setAttribute("aria-expanded", each === button ? "true" : "false");
    });
    unseen = 0;
    news.textContent = "";
    side.scrollTop = 0;
    var heading = side.querySelector('[data-panel="' + name + '"] h2');
    if (heading) {
      heading.focus();
    }
  }

  function close(returnFocus) {
    if (current === null) {
      return;
    }
    current = null;
    room.removeAttribute("data-open");
    buttons.forEach(function (each) {
      each.setAttribute("aria-expanded", "false");
    });
    if (returnFocus) {
      var target = opener && !opener.hidden ? opener : buttons[0];
      target.focus();
    }
  }

  // For the practice room's walk (practice_walk.js): show the panel a place is in, or the
  // conversation, on a narrow screen; nothing to do on a wide one.
  window.HearthRoomPanels = {
    narrow: function () {
      return narrow.matches;
    },
    open: function (name) {
      if (narrow.matches && current !== name) {
        open(name, buttonFor(name));
      }
    },
    close: function () {
      // Focus inside the panel goes back to the button that opened it, not to nowhere.
      close(current !== null && side.contains(document.activeElement));
    }
  };

  bar.addEventListener("click", function (click) {
    var button = click.target.closest("button[data-panel]");
    if (!button) {
      return;
    }
    var name = button.getAttribute("data-panel");
    if (current === name) {
      close(true);
    } else {
      open(name, button);
    }
  });

  closeButton.addEventListener("click", function () {
    close(true);
  });

  // Escape closes the panel, unless something inside it (a person's menu) used it already.
  document.addEventListener("keydown", function (key) {
    if (key.key === "Escape" && current !== null && !key.defaultPrevented && narrow.matches) {
      key.preventDefault();
      close(true);
    }
  });

  // Turned or widened into the two-column room: everything shows at once.
  function widened() {
    if (!narrow.matches) {
      close(false);
    }
  }
  if (narrow.addEventListener) {
    narrow.addEventListener("change", widened);
  } else {
    narrow.addListener(widened); // Safari before 14
  }

  // The bar's "Who is here (n)" follows the panel's own count (room.js keeps that one).
  var peopleCount = document.getElementById("people-count");
  var barCount = bar.querySelector("[data-people-count]");
  if (peopleCount && barCount) {
    new MutationObserver(function () {
      barCount.textContent = peopleCount.textContent;
    }).observe(peopleCount, { childList: true, characterData: true, subtree: true });
  }

  // The controls' button shows while room.js shows the controls (not before it runs, nor
  // after the session has ended).
  var controlsButton = buttonFor("controls");
  function followControls() {
    controlsButton.hidden = controls.hidden;
    if (controls.hidden && current === "controls") {
      close(document.activeElement === document.body || side.contains(document.activeElement));
    }
  }
  if (controls && controlsButton) {
    followControls();
    new MutationObserver(followControls).observe(controls, { attributes: true, attributeFilter: ["hidden"] });
  }

  // The conversation's height follows the screen's (a phone's keyboard opening, the phone
  // turned, a notice shown above it): if it was showing the newest message, it still does.
  var atEnd = true;
  list.addEventListener("scroll", function () {
    atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  });
  if ("ResizeObserver" in window) {
    new ResizeObserver(function () {
      if (atEnd) {
        list.scrollTop = list.scrollHeight;
      }
    }).observe(list);
  }

  // Words on the way back say that the conversation moved on meanwhile (screen readers hear
  // each new message from room.js's own announcement).
  new MutationObserver(function (changes) {
    if (current === null) {
      return;
    }
    changes.forEach(function (change) {
      Array.prototype.forEach.call(change.addedNodes, function (node) {
        if (node.nodeType === Node.ELEMENT_NODE && node.matches("li[data-position]") && !node.hidden) {
          unseen += 1;
        }
      });
    });
    news.textContent = unseen ? " (" + unseen + " new message" + (unseen === 1 ? "" : "s") + ")" : "";
  }).observe(list, { childList: true });
})();
