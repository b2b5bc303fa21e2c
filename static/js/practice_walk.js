/* Hearth: the practice room's guided walk (templates/chat/includes/practice_walk.html).

   A short ordered list of things to try in the room. Each step ticks itself when the person
   does it, as the pretend room (practice_socket.js) hears and answers it, or as they reach the
   place on the page; the first step not done yet is "Next" and says how, with a button that
   brings the place into view and puts the focus there. Report links explain themselves here
   instead of opening the report form: nothing is ever sent from the practice room. */
(function () {
  "use strict";

  var practice = window.HearthPracticeSocket && window.HearthPracticeSocket.room;
  var walk = document.getElementById("practice-walk");
  if (!practice || !walk) {
    return;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  var steps = Array.prototype.slice.call(walk.querySelectorAll("li[data-step]"));
  var count = byId("practice-count");
  var barCount = document.querySelector('#room-bar [data-panel="walk"] [data-walk-count]');
  var announcer = byId("practice-announcer");
  var finished = byId("practice-finished");
  var reportDialog = byId("practice-report");
  var done = new Set();
  var STATE_WORDS = { done: "Done", next: "Next", todo: "Not yet" };
  var calm = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function stepId(step) {
    return step.getAttribute("data-step");
  }

  function what(step) {
    return step.querySelector(".practice-step__what").textContent;
  }

  function nextStep() {
    return steps.filter(function (step) {
      return !done.has(stepId(step));
    })[0] || null;
  }

  function render() {
    var next = nextStep();
    steps.forEach(function (step) {
      var state = done.has(stepId(step)) ? "done" : step === next ? "next" : "todo";
      step.className = "practice-step practice-step--" + state;
      step.querySelector(".practice-step__state").textContent = STATE_WORDS[state];
      step.querySelector(".practice-step__how").hidden = state !== "next";
      if (state === "next") {
        step.setAttribute("aria-current", "step");
      } else {
        step.removeAttribute("aria-current");
      }
    });
    count.textContent = done.size + " of " + steps.length + " done";
    if (barCount) {
      barCount.textContent = "(" + done.size + " of " + steps.length + ")";
    }
    finished.hidden = next !== null;
  }

  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(function () {
      announcer.textContent = text;
    }, 50);
  }

  function tick(id) {
    var step = steps.filter(function (candidate) {
      return stepId(candidate) === id;
    })[0];
    if (!step || done.has(id)) {
      return;
    }
    var hadFocus = step.contains(document.activeElement);
    done.add(id);
    render();
    var next = nextStep();
    announce("Done: " + what(step) + ". " +
      (next ? "Next: " + what(next) + "." : "You have tried everything in the practice walk."));
    if (hadFocus) {
      // Its button has gone: keep the focus in the walk rather than lose it to the page.
      count.setAttribute("tabindex", "-1");
      count.focus({ preventScroll: true });
    }
  }

  // --- Bringing a place into view ---------------------------------------------------------

  function visible(node) {
    return node && !node.closest("[hidden]");
  }

  function firstVisible(selector) {
    return Array.prototype.slice.call(document.querySelectorAll(selector)).filter(visible)[0] || null;
  }

  var spot = null; // the place "Show me" last brought into view, marked for a few seconds
  var spotTimer = null;

  // On a narrow screen the side column's parts are panels shown one at a time in the
  // conversation's place (room_drawer.js): show the one the place is in, or the conversation.
  function reveal(target) {
    var panels = window.HearthRoomPanels;
    if (!panels || !panels.narrow()) {
      return;
    }
    var panel = target.closest("#room-side [data-panel]");
    if (panel) {
      panels.open(panel.getAttribute("data-panel"));
    } else {
      panels.close();
    }
  }

  function bring(target) {
    if (!target) {
      return;
    }
    reveal(target);
    if (spot) {
      spot.classList.remove("practice-spot");
      window.clearTimeout(spotTimer);
    }
    spot = target;
    if (!target.matches("a[href], button, input, textarea, select, [tabindex]")) {
      target.setAttribute("tabindex", "-1");
    }
    target.scrollIntoView({ block: "center", behavior: calm ? "auto" : "smooth" });
    target.focus({ preventScroll: true });
    target.classList.add("practice-spot");
    spotTimer = window.setTimeout(function () {
      target.classList.remove("practice-spot");
      spot = null;
    }, 4000);
  }

  // After the pretend room's events have reached the page (they are delivered in order).
  function soon(action) {
    window.setTimeout(action, 0);
  }

  var SHOW = {
    write: function () {
      bring(byId("message-body"));
    },
    people: function () {
      bring(byId("people-heading"));
      tick("people");
    },
    report: function () {
      bring(firstVisible("#messages .msg__report") || firstVisible("#presence .msg__report"));
    },
    mute: function () {
      // "Mute for me" is behind a person's name: open the first one's actions.
      var name = document.querySelector('#presence button[data-action="menu"]');
      if (name && name.getAttribute("aria-expanded") !== "true") {
        name.click();
      }
      bring(firstVisible('#presence button[data-action="hide"], #presence button[data-action="show"]'));
    },
    help: function () {
      bring(document.querySelector(".room-help-now"));
      tick("help");
    },
    pinned: function () {
      practice.pin();
      soon(function () {
        bring(byId("pinned"));
      });
    },
    round: function () {
      practice.startRound();
      soon(function () {
        bring(byId("round"));
      });
    }
  };

  walk.addEventListener("click", function (click) {
    var button = click.target.closest("button[data-show]");
    if (button && SHOW[button.getAttribute("data-show")]) {
      SHOW[button.getAttribute("data-show")]();
    }
  });

  // --- What the person does ---------------------------------------------------------------

  // While the practice round runs, its button goes to it rather than offering another.
  var roundButton = walk.querySelector('button[data-show="round"]');
  var roundLabel = roundButton.textContent;

  function roundRunning(running) {
    roundButton.textContent = running ? "Go to the round" : roundLabel;
  }

  practice.listen(function (what, event) {
    if (what === "sent" && event.type === "round.state") {
      roundRunning(Boolean(event.round));
    }
    if (what === "sent" && event.type === "message.ack" && !event.duplicate) {
      tick("write");
    } else if (what === "received" && event.type === "hide_author" && event.hidden !== false) {
      tick("mute");
    } else if (what === "sent" && event.type === "room.pinned" && event.text) {
      tick("pinned");
    } else if (what === "sent" && event.type === "round.state" && event.round) {
      event.round.turns.forEach(function (turn) {
        if (turn.participant === practice.you && (turn.state === "spoken" || turn.state === "passed")) {
          tick("round");
        }
      });
    } else if (what === "sent" && event.type === "round.state" && !event.round) {
      // The round ended with the person's turn taken (the last turn ends it at once).
      tick("round");
    }
  });

  var people = document.querySelector(".room-people");
  if (people) {
    people.addEventListener("focusin", function () {
      tick("people");
    });
    people.addEventListener("click", function () {
      tick("people");
    });
  }

  // Get help now always works: finding it counts, and following it is never stopped.
  document.addEventListener("focusin", function (focus) {
    if (focus.target.closest && focus.target.closest(".help-now")) {
      tick("help");
    }
  });
  document.addEventListener("pointerdown", function (press) {
    if (press.target.closest && press.target.closest(".help-now")) {
      tick("help");
    }
  });

  // Report, in practice: say what it would do, send nothing. (A Report link opened in a tab of
  // its own reaches a page that says the same.)
  document.addEventListener("click", function (click) {
    var link = click.target.closest && click.target.closest("a.msg__report, a.presence__report");
    if (!link || click.button !== 0 || click.ctrlKey || click.metaKey || click.shiftKey) {
      return;
    }
    tick("report");
    if (reportDialog && typeof reportDialog.showModal === "function") {
      click.preventDefault();
      reportDialog.showModal();
    }
  });

  // "See what to try", in the notice at the top: on a phone, the walk is a panel of its own.
  document.addEventListener("click", function (click) {
    var link = click.target.closest && click.target.closest('a[href="#practice-walk-heading"]');
    if (link && window.HearthRoomPanels && window.HearthRoomPanels.narrow()) {
      click.preventDefault();
      window.HearthRoomPanels.open("walk");
    }
  });

  walk.hidden = false;
  render();
})();
