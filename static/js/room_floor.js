// The floor of the live room: the pause, raised hands and rounds (docs/protocol.md, "Pause,
// hands and rounds"). room.js owns the socket and calls this module with the room's state and
// with each room.paused, hands.state and round.state event; the server is the truth, and every
// event carries the whole state of what changed with a version, so this page only draws the
// newest one it has.
(function () {
  "use strict";

  window.HearthFloor = function (room) {
    function byId(id) {
      return document.getElementById(id);
    }

    var ui = {
      pause: byId("pause-note"),
      pauseText: byId("pause-text"),
      pauseKeep: byId("pause-keep"),
      floorNote: byId("floor-note"),
      round: byId("round"),
      roundPrompt: byId("round-prompt"),
      roundTurn: byId("round-turn"),
      roundOrder: byId("round-order"),
      roundDone: byId("round-done"),
      roundPass: byId("round-pass"),
      handToggle: byId("hand-toggle"),
      handState: byId("hand-state"),
      // The facilitator's panel (absent for members)
      pauseForm: byId("pause-form"),
      pauseNote: byId("pause-note-text"),
      pauseMinutes: byId("pause-minutes"),
      pauseResume: byId("pause-resume"),
      handsQueue: byId("hands-queue"),
      handsEmpty: byId("hands-empty"),
      floorNext: byId("floor-next"),
      handsLowerAll: byId("hands-lower-all"),
      floorOpen: byId("floor-open"),
      roundForm: byId("round-form"),
      roundKind: byId("round-kind"),
      roundOwn: byId("round-own"),
      roundOwnLabel: byId("round-own-label"),
      roundTakePart: byId("round-take-part"),
      roundRunning: byId("round-running"),
      roundSkip: byId("round-skip"),
      roundEnd: byId("round-end")
    };

    var versions = { "room.paused": -1, "hands.state": -1, "round.state": -1 };
    var paused = null;
    var pauseTimer = null;
    var hands = { queue: [], floor: null };
    var round = null;
    var myTurn = false;

    var STATE_WORDS = {
      waiting: "waiting",
      current: "has the floor",
      spoken: "spoke",
      passed: "passed",
      skipped: "skipped"
    };

    function make(tag, className, text) {
      var node = document.createElement(tag);
      if (className) {
        node.className = className;
      }
      if (text !== undefined) {
        node.textContent = text;
      }
      return node;
    }

    function button(label, action, participant, extra) {
      var node = make("button", "button--secondary", label);
      node.type = "button";
      node.setAttribute("data-action", action);
      if (participant !== undefined) {
        node.setAttribute("data-participant", String(participant));
      }
      if (extra) {
        node.setAttribute("aria-label", extra);
      }
      return node;
    }

    // --- The pause ----------------------------------------------------------------------

    function setPaused(value, quiet) {
      var was = paused !== null;
      paused = value;
      if (pauseTimer !== null) {
        window.clearTimeout(pauseTimer);
        pauseTimer = null;
      }
      var until = value && value.until ? new Date(value.until) : null;
      if (until && until.getTime() <= Date.now()) {
        paused = value = null; // it ran out while this page was away
      }
      ui.pause.hidden = value === null;
      ui.pauseKeep.hidden = room.isFacilitator;
      if (value !== null) {
        var text = room.isFacilitator
          ? "New messages from members are paused; as the facilitator you can still write."
          : "The facilitator has paused new messages.";
        if (value.note) {
          text += " " + value.note;
        }
        if (until) {
          text += " Until " + room.formatTime(until) + ".";
          // A pause ends by itself; no event is sent then.
          pauseTimer = window.setTimeout(function () {
            setPaused(null);
          }, Math.min(until.getTime() - Date.now(), 2147483000));
        }
        ui.pauseText.textContent = text;
        if (!was && !quiet) {
          room.announce("Paused. " + text);
        }
      } else if (was && !quiet) {
        room.announce("The pause is over. You can send messages again.");
      }
      if (ui.pauseResume) {
        ui.pauseResume.hidden = value === null;
      }
    }

    // --- Raised hands -------------------------------------------------------------------

    function ordinal(n) {
      var words = ["first", "second", "third", "fourth", "fifth"];
      return words[n - 1] || "number " + n;
    }

    function setHands(value, quiet) {
      var me = room.me();
      var hadFloor = hands.floor && hands.floor.participant === me;
      hands = value;
      var place = 0;
      hands.queue.forEach(function (hand, index) {
        if (hand.participant === me) {
          place = index + 1;
        }
      });
      if (ui.handToggle) {
        ui.handToggle.textContent = place ? "Lower my hand" : "Raise my hand";
        ui.handToggle.setAttribute("aria-pressed", place ? "true" : "false");
        ui.handState.textContent = place
          ? "Your hand is raised: you are " + ordinal(place) + " in the queue."
          : "Raise your hand to let the facilitator know you would like to speak.";
      }
      var floor = hands.floor;
      ui.floorNote.hidden = !floor;
      if (floor) {
        var mine = floor.participant === me;
        ui.floorNote.textContent = mine
          ? "The facilitator has given you the floor."
          : "The facilitator has given the floor to " + floor.name + ".";
        if (mine && !hadFloor && !quiet) {
          room.announce("The facilitator has given you the floor.");
          toTheConversation();
        }
      }
      if (ui.handsQueue) {
        ui.handsQueue.textContent = "";
        ui.handsEmpty.hidden = hands.queue.length > 0;
        hands.queue.forEach(function (hand) {
          var item = make("li");
          item.appendChild(make("bdi", null, hand.name));
          item.appendChild(document.createTextNode(" "));
          item.appendChild(button("Give the floor", "floor-give", hand.participant, "Give the floor to " + hand.name));
          item.appendChild(document.createTextNode(" "));
          item.appendChild(button("Lower hand", "hand-lower", hand.participant, "Lower the hand of " + hand.name));
          ui.handsQueue.appendChild(item);
        });
        ui.floorNext.disabled = hands.queue.length === 0;
        ui.handsLowerAll.disabled = hands.queue.length === 0;
      }
    }

    // --- Rounds -------------------------------------------------------------------------

    function setRound(value, quiet) {
      var me = room.me();
      var wasRunning = round !== null;
      var wasMyTurn = myTurn;
      round = value;
      ui.round.hidden = value === null;
      if (ui.roundForm) {
        ui.roundForm.hidden = value !== null;
        ui.roundRunning.hidden = value === null;
      }
      if (value === null) {
        myTurn = false;
        ui.roundOrder.textContent = "";
        if (wasRunning && !quiet) {
          room.announce("The round has ended. Everyone may write again.");
        }
        return;
      }
      ui.roundPrompt.textContent = value.prompt;
      myTurn = value.current === me;
      var mine = null;
      var holder = null;
      ui.roundOrder.textContent = "";
      var waiting = value.turns.filter(function (turn) {
        return turn.state === "waiting";
      });
      value.turns.forEach(function (turn) {
        if (turn.participant === me) {
          mine = turn;
        }
        if (turn.state === "current") {
          holder = turn;
        }
        var item = make("li", "room-round__item room-round__item--" + turn.state);
        item.appendChild(make("bdi", null, turn.name));
        if (turn.participant === me) {
          item.appendChild(document.createTextNode(" (you)"));
        }
        item.appendChild(document.createTextNode(": " + STATE_WORDS[turn.state]));
        if (turn.state === "current") {
          item.setAttribute("aria-current", "step");
        }
        if (ui.roundForm && turn.state === "waiting") {
          var at = waiting.indexOf(turn);
          if (at > 0) {
            item.appendChild(document.createTextNode(" "));
            item.appendChild(button("Earlier", "round-up", turn.participant, "Move " + turn.name + " earlier"));
          }
          if (at < waiting.length - 1) {
            item.appendChild(document.createTextNode(" "));
            item.appendChild(button("Later", "round-down", turn.participant, "Move " + turn.name + " later"));
          }
        }
        ui.roundOrder.appendChild(item);
      });
      if (myTurn) {
        ui.roundTurn.textContent = "Your turn. Write one message, or press Done or Pass.";
      } else if (holder && room.isFacilitator) {
        ui.roundTurn.textContent = "It is " + holder.name + "'s turn. As the facilitator you can still write.";
      } else if (holder) {
        ui.roundTurn.textContent = "It is " + holder.name + "'s turn. You can read along; what you write waits in the box.";
      } else {
        ui.roundTurn.textContent = "";
      }
      ui.roundTurn.classList.toggle("room-round__turn--yours", myTurn);
      ui.roundDone.hidden = !myTurn;
      ui.roundPass.hidden = !(mine && (mine.state === "current" || mine.state === "waiting"));
      if (!quiet) {
        if (myTurn && !wasMyTurn) {
          room.announce("Your turn. " + value.prompt);
          toTheConversation();
        } else if (!wasRunning) {
          room.announce("A round has started: " + value.prompt + ". " + ui.roundTurn.textContent);
        }
      }
    }

    function moveInOrder(participant, step) {
      var waiting = round.turns.filter(function (turn) {
        return turn.state === "waiting";
      }).map(function (turn) {
        return turn.participant;
      });
      var at = waiting.indexOf(participant);
      var to = at + step;
      if (at < 0 || to < 0 || to >= waiting.length) {
        return;
      }
      waiting[at] = waiting[to];
      waiting[to] = participant;
      room.send({ type: "control.round_order", order: waiting }, "controls");
    }

    // --- Events -------------------------------------------------------------------------

    function fresh(type, version) {
      if (typeof version !== "number" || version < versions[type]) {
        return false; // an older state overtaken by a newer one
      }
      versions[type] = version;
      return true;
    }

    function onState(state) {
      var version = Number(state.floor_version) || 0;
      // Only what is newer than what this page holds (an event may have come first).
      Object.keys(versions).forEach(function (type) {
        versions[type] = Math.max(versions[type], version);
      });
      setPaused(state.paused || null, true);
      setHands(state.hands || { queue: [], floor: null }, true);
      setRound(state.round || null, true);
      if (myTurn) {
        room.announce("Your turn. " + round.prompt);
        toTheConversation();
      }
    }

    function handle(event) {
      if (!(event.type in versions) || !fresh(event.type, event.version)) {
        return false;
      }
      if (event.type === "room.paused") {
        setPaused(event.paused || null);
      } else if (event.type === "hands.state") {
        setHands({ queue: event.queue || [], floor: event.floor || null });
      } else {
        setRound(event.round || null);
      }
      return true;
    }

    // When the floor becomes this person's, a phone showing one of the room's panels goes back
    // to the conversation and the box to write in (room_drawer.js), so the turn is seen.
    function toTheConversation() {
      if (window.HearthRoomPanels) {
        window.HearthRoomPanels.close();
      }
    }

    // The room has finished for this page (ended, removed, logged out): nothing of the floor
    // holds any more, and no later event brings it back.
    function close() {
      Object.keys(versions).forEach(function (type) {
        versions[type] = Infinity;
      });
      setPaused(null, true);
      setHands({ queue: [], floor: null }, true);
      setRound(null, true);
      if (ui.handToggle) {
        ui.handToggle.closest(".room-hand").hidden = true;
      }
    }

    // --- Wiring -------------------------------------------------------------------------

    function act(event, area) {
      room.clearErrors();
      room.send(event, area || "send");
    }

    ui.roundDone.addEventListener("click", function () {
      act({ type: "round.done" });
    });
    ui.roundPass.addEventListener("click", function () {
      act({ type: "round.pass" });
    });
    if (ui.handToggle) {
      ui.handToggle.addEventListener("click", function () {
        var raised = ui.handToggle.getAttribute("aria-pressed") === "true";
        act({ type: raised ? "hand.lower" : "hand.raise" });
      });
    }
    if (ui.pauseForm) {
      ui.pauseForm.addEventListener("submit", function (submit) {
        submit.preventDefault();
        var minutes = ui.pauseMinutes.value ? Number(ui.pauseMinutes.value) : null;
        act({ type: "control.pause", minutes: minutes, note: ui.pauseNote.value }, "controls");
      });
      ui.pauseResume.addEventListener("click", function () {
        act({ type: "control.resume" }, "controls");
      });
      ui.floorNext.addEventListener("click", function () {
        act({ type: "control.floor_give", participant: null }, "controls");
      });
      ui.handsLowerAll.addEventListener("click", function () {
        act({ type: "control.hands_lower_all" }, "controls");
      });
      ui.floorOpen.addEventListener("click", function () {
        act({ type: "control.floor_open" }, "controls");
      });
      ui.handsQueue.addEventListener("click", function (click) {
        var target = click.target.closest("button[data-action]");
        if (!target) {
          return;
        }
        var participant = Number(target.getAttribute("data-participant"));
        var kind = target.getAttribute("data-action") === "floor-give" ? "control.floor_give" : "control.hand_lower";
        act({ type: kind, participant: participant }, "controls");
      });
      ui.roundKind.addEventListener("change", function () {
        var own = ui.roundKind.value === "";
        ui.roundOwn.hidden = !own;
        ui.roundOwnLabel.hidden = !own;
        if (own) {
          ui.roundOwn.focus();
        }
      });
      ui.roundForm.addEventListener("submit", function (submit) {
        submit.preventDefault();
        var prompt = ui.roundKind.value || ui.roundOwn.value;
        act({ type: "control.round_start", prompt: prompt, take_part: ui.roundTakePart.checked }, "controls");
      });
      ui.roundSkip.addEventListener("click", function () {
        act({ type: "control.round_skip" }, "controls");
      });
      ui.roundEnd.addEventListener("click", function () {
        act({ type: "control.round_end" }, "controls");
      });
      ui.roundOrder.addEventListener("click", function (click) {
        var target = click.target.closest("button[data-action]");
        if (target && round) {
          room.clearErrors();
          moveInOrder(Number(target.getAttribute("data-participant")), target.getAttribute("data-action") === "round-up" ? -1 : 1);
        }
      });
    }

    return { onState: onState, handle: handle, close: close };
  };
})();
