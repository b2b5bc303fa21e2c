/* Hearth: the practice room's stand-in for the room's socket (chat/practice.py).

   When the page's config says `practice`, room.js opens this instead of a WebSocket. It has the
   part of the WebSocket interface room.js uses (readyState, addEventListener for "open",
   "message" and "close", send, close) and answers with the events docs/protocol.md documents,
   and only those (tests/chat/test_practice_protocol.py holds the two together), from a pretend
   room kept in this page's memory. Nothing goes to the server and nothing is kept: leaving or
   reloading the page forgets it all.

   The Practice guide (a facilitator) and Sam (a member) are played by this script, so that the
   person can see what other people, a pinned notice and a round look like. The guided walk
   (practice_walk.js) listens to what the pretend room hears and says, and asks it for the
   notice and the round. */
(function () {
  "use strict";

  var CONNECTING = 0;
  var OPEN = 1;
  var CLOSING = 2;
  var CLOSED = 3;
  var MAX_BODY = 2000;
  var UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  // What the server removes from a message before storing it (accounts.text), in short.
  var HIDDEN_CHARACTERS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g;
  var PRESENCE_DELAY_MS = 500; // as the server: half a second after someone connects
  var PRESENCE_EVERY_MS = 60000; // and about once a minute
  var REPLY_MS = 1200; // how long the pretend people take to answer
  var TURN_MS = 3000; // how long Sam takes over a turn in the round

  // The facilitator's controls: documented client events a member may not use.
  var CONTROLS = [
    "control.mute", "control.unmute", "control.remove", "control.lock", "control.unlock",
    "control.hide", "control.pin", "control.end", "control.extend", "control.pause",
    "control.resume", "control.hand_lower", "control.hands_lower_all", "control.floor_give",
    "control.floor_open", "control.round_start", "control.round_order", "control.round_skip",
    "control.round_end"
  ];

  var configNode = document.getElementById("room-config");
  var cfg = configNode ? JSON.parse(configNode.textContent) : {};
  if (!cfg.practice) {
    return;
  }

  var YOU = 1;
  var GUIDE = 2;
  var SAM = 3;
  var PEOPLE = {};
  PEOPLE[YOU] = { name: cfg.name, facilitator: false };
  PEOPLE[GUIDE] = { name: "Practice guide", facilitator: true };
  PEOPLE[SAM] = { name: "Sam (example)", facilitator: false };

  // The pretend room: what the server and its database would hold.
  var room = {
    messages: [], // message events, in position order
    clientIds: {}, // client_id -> the position of the message it stored
    pinned: "",
    hiddenAuthors: [], // "Mute for me": whose messages this person hid
    floorVersion: 0,
    hands: { queue: [], floor: null },
    round: null,
    rounds: 0,
    sockets: [],
    listeners: [],
    thanked: false
  };

  function now() {
    return new Date().toISOString();
  }

  function copy(value) {
    return value === null || value === undefined ? null : JSON.parse(JSON.stringify(value));
  }

  function later(ms, action) {
    window.setTimeout(action, ms);
  }

  // The walk listens: ("received", a client event) and ("sent", a server event).
  function tell(what, event) {
    room.listeners.forEach(function (listener) {
      listener(what, event);
    });
  }

  function broadcast(event) {
    room.sockets.forEach(function (socket) {
      socket.deliver(event);
    });
  }

  function refuse(socket, code, message, clientId) {
    var event = { type: "error", code: code, message: message };
    if (clientId !== undefined) {
      event.client_id = clientId;
    }
    socket.deliver(event);
  }

  // --- Messages ---------------------------------------------------------------------------

  function post(author, body, clientId) {
    var person = PEOPLE[author];
    var message = {
      type: "message",
      position: room.messages.length + 1,
      author: author,
      name: person.name,
      facilitator: person.facilitator,
      body: body,
      hidden: false,
      before_start: false,
      created_at: now()
    };
    room.messages.push(message);
    if (clientId) {
      room.clientIds[clientId] = message.position;
    }
    return message;
  }

  function say(author, body) {
    broadcast(post(author, body));
  }

  post(GUIDE, "Welcome to the practice room, " + cfg.name + ". I am the Practice guide: a " +
    "pretend facilitator, played by this page like Sam. Take your time. Nothing here is kept.");
  post(SAM, "Hello, I am Sam, an example member. You can hide my messages for yourself, or " +
    "report me: here, nothing is sent to anyone.");

  function onSend(socket, event) {
    var clientId = event.client_id;
    if (typeof clientId !== "string" || !UUID.test(clientId)) {
      refuse(socket, "invalid_client_id", "Each message needs a client_id (a UUID).", clientId);
      return;
    }
    if (room.clientIds[clientId] !== undefined) {
      socket.deliver({ type: "message.ack", client_id: clientId, position: room.clientIds[clientId], duplicate: true });
      return;
    }
    if (typeof event.body !== "string" || event.body.indexOf("\u0000") !== -1) {
      refuse(socket, "invalid_body", "A message is plain text.", clientId);
      return;
    }
    var text = event.body.replace(/\r\n?/g, "\n").replace(HIDDEN_CHARACTERS, "").trim();
    if (text.length > MAX_BODY) {
      refuse(socket, "too_long", "Messages can be up to 2,000 characters; yours has " +
        text.length.toLocaleString("en") + ".", clientId);
      return;
    }
    if (!text) {
      refuse(socket, "invalid_body", "Your message is empty.", clientId);
      return;
    }
    var round = room.round;
    if (round && round.current !== null && round.current !== YOU) {
      refuse(socket, "not_your_turn", "It is " + PEOPLE[round.current].name +
        "'s turn; your message waits in the box.", clientId);
      return;
    }
    var message = post(YOU, text, clientId);
    socket.deliver({ type: "message.ack", client_id: clientId, position: message.position, duplicate: false });
    broadcast(message);
    if (round && round.current === YOU) {
      endTurn(YOU, "spoken");
    } else if (room.hands.floor && room.hands.floor.participant === YOU) {
      room.hands.floor = null; // the guide opens the floor again once you have spoken
      handsChanged();
    }
    if (!room.thanked) {
      room.thanked = true;
      later(REPLY_MS, function () {
        say(GUIDE, "Thank you, " + cfg.name + ". That is how everyone in the room sees your " +
          "messages: your name, the time and your words.");
      });
    }
  }

  function onResync(socket, event) {
    var after = event.after;
    if (!(Number.isInteger(after) && after >= 0 && after <= socket.lastSent)) {
      after = socket.lastSent;
    }
    room.messages.forEach(function (message) {
      if (message.position > after) {
        socket.deliver(message);
      }
    });
    socket.deliver({ type: "history.end", position: socket.lastSent });
  }

  // "Mute for me": no reply on success, as on the server.
  function onHide(socket, event) {
    var hidden = event.hidden === undefined ? true : event.hidden;
    if (typeof hidden !== "boolean") {
      refuse(socket, "bad_request", "Say whether to hide (true) or show (false).");
      return;
    }
    var person = PEOPLE[event.participant];
    if (!person || event.participant === YOU) {
      refuse(socket, "no_such_person", "There is nobody like that in this room.");
      return;
    }
    if (person.facilitator) {
      refuse(socket, "facilitator", "You cannot hide the facilitator's messages.");
      return;
    }
    room.hiddenAuthors = room.hiddenAuthors.filter(function (participant) {
      return participant !== event.participant;
    });
    if (hidden) {
      room.hiddenAuthors.push(event.participant);
    }
  }

  // --- Presence ---------------------------------------------------------------------------

  function presence() {
    var people = [GUIDE, YOU, SAM].map(function (participant) {
      var person = PEOPLE[participant];
      return { participant: participant, name: person.name, facilitator: person.facilitator, muted: false };
    });
    // Facilitators first, then by name, as the server lists them.
    people.sort(function (a, b) {
      return (b.facilitator - a.facilitator) || a.name.localeCompare(b.name);
    });
    return { type: "presence", people: people };
  }

  window.setInterval(function () {
    broadcast(presence());
  }, PRESENCE_EVERY_MS);

  // --- The floor: raised hands and the round ----------------------------------------------

  function handsChanged() {
    room.floorVersion += 1;
    broadcast({ type: "hands.state", version: room.floorVersion, queue: copy(room.hands.queue), floor: copy(room.hands.floor) });
  }

  function roundChanged() {
    room.floorVersion += 1;
    broadcast({ type: "round.state", version: room.floorVersion, round: copy(room.round) });
  }

  function raised() {
    return room.hands.queue.some(function (hand) {
      return hand.participant === YOU;
    });
  }

  function onHand(raise) {
    if (raise === raised()) {
      return; // raising a raised hand keeps its place; lowering a lowered one changes nothing
    }
    if (raise) {
      room.hands.queue.push({ participant: YOU, name: PEOPLE[YOU].name, raised_at: now() });
      // The guide notices and gives you the floor.
      later(REPLY_MS * 2, function () {
        if (raised()) {
          room.hands.queue = [];
          room.hands.floor = { participant: YOU, name: PEOPLE[YOU].name };
          handsChanged();
        }
      });
    } else {
      room.hands.queue = [];
    }
    handsChanged();
  }

  function turnOf(participant) {
    var found = null;
    (room.round ? room.round.turns : []).forEach(function (turn) {
      if (turn.participant === participant) {
        found = turn;
      }
    });
    return found;
  }

  // A turn ends; the next person waiting has the floor, and with nobody left the round ends.
  function endTurn(participant, state) {
    var round = room.round;
    var turn = turnOf(participant);
    if (!round || !turn) {
      return;
    }
    var wasCurrent = turn.state === "current";
    turn.state = state;
    if (wasCurrent) {
      round.current = null;
      var next = round.turns.filter(function (other) {
        return other.state === "waiting";
      })[0];
      if (next) {
        next.state = "current";
        round.current = next.participant;
      }
    }
    var open = round.turns.some(function (other) {
      return other.state === "waiting" || other.state === "current";
    });
    if (!open) {
      room.round = null;
    }
    roundChanged();
  }

  function startRound() {
    if (room.round) {
      return false;
    }
    room.rounds += 1;
    room.round = {
      id: room.rounds,
      prompt: "Check-in: how are you arriving today?",
      current: SAM,
      turns: [
        { participant: SAM, name: PEOPLE[SAM].name, state: "current" },
        { participant: YOU, name: PEOPLE[YOU].name, state: "waiting" }
      ]
    };
    roundChanged();
    later(TURN_MS, function () {
      var turn = turnOf(SAM);
      if (turn && turn.state === "current") {
        var message = post(SAM, "Arriving a little tired today, but glad to be here.");
        broadcast(message);
        endTurn(SAM, "spoken");
      }
    });
    return true;
  }

  function onRound(socket, done) {
    var turn = turnOf(YOU);
    if (!room.round) {
      refuse(socket, "no_round", "No round is running.");
    } else if (!turn) {
      refuse(socket, "not_in_round", "You are not in this round.");
    } else if (done && turn.state !== "current") {
      refuse(socket, "not_your_turn", "It is not your turn.");
    } else if (!done && turn.state !== "current" && turn.state !== "waiting") {
      refuse(socket, "turn_taken", "You have had your turn in this round.");
    } else {
      endTurn(YOU, done ? "spoken" : "passed");
    }
  }

  function pin() {
    room.pinned = "We take a short pause at half past. If you need to step away, that is " +
      "fine: come back when you are ready.";
    broadcast({ type: "room.pinned", text: room.pinned });
  }

  // --- What the server would say on connecting --------------------------------------------

  function roomState() {
    return {
      type: "room.state",
      session: cfg.session,
      status: "live",
      opens_at: cfg.starts_at,
      starts_at: cfg.starts_at,
      ends_at: cfg.ends_at,
      extended: false,
      locked: false,
      pinned: room.pinned,
      agreement: cfg.agreement || "",
      last_position: room.messages.length,
      you: { participant: YOU, name: PEOPLE[YOU].name, role: "member", muted: false },
      hidden_authors: room.hiddenAuthors.slice(),
      hidden_positions: [],
      floor_version: room.floorVersion,
      paused: null,
      hands: copy(room.hands),
      round: copy(room.round)
    };
  }

  function receive(socket, data) {
    var event;
    try {
      event = JSON.parse(data);
    } catch (error) {
      refuse(socket, "bad_request", "That was not valid JSON.");
      return;
    }
    if (!event || typeof event !== "object" || Array.isArray(event)) {
      refuse(socket, "bad_request", "Events are JSON objects with a type.");
      return;
    }
    tell("received", copy(event));
    switch (event.type) {
      case "message.send":
        onSend(socket, event);
        break;
      case "resync":
        onResync(socket, event);
        break;
      case "hide_author":
        onHide(socket, event);
        break;
      case "hand.raise":
        onHand(true);
        break;
      case "hand.lower":
        onHand(false);
        break;
      case "round.pass":
        onRound(socket, false);
        break;
      case "round.done":
        onRound(socket, true);
        break;
      default:
        if (CONTROLS.indexOf(event.type) !== -1) {
          refuse(socket, "forbidden", "Only the group's facilitators can do this.");
        } else {
          refuse(socket, "bad_request", "Unknown event type.");
        }
    }
  }

  // --- The socket -------------------------------------------------------------------------

  function PracticeSocket(url) {
    var socket = this;
    socket.url = String(url);
    socket.readyState = CONNECTING;
    socket.lastSent = 0;
    socket.listeners = { open: [], message: [], close: [], error: [] };
    var after = 0;
    try {
      after = Number(new URL(socket.url, location.href).searchParams.get("after"));
    } catch (error) {
      after = 0;
    }
    if (!Number.isInteger(after) || after < 0) {
      after = 0; // as the server: missing, negative or not an integer counts as 0
    }
    // Like a real socket, it opens after the caller has added its listeners.
    later(0, function () {
      if (socket.readyState !== CONNECTING) {
        return;
      }
      socket.readyState = OPEN;
      room.sockets.push(socket);
      socket.emit("open", new Event("open"));
      socket.deliver(roomState());
      room.messages.forEach(function (message) {
        if (message.position > after) {
          socket.deliver(message);
        }
      });
      socket.deliver({ type: "history.end", position: socket.lastSent });
      later(PRESENCE_DELAY_MS, function () {
        broadcast(presence());
      });
    });
  }

  PracticeSocket.CONNECTING = CONNECTING;
  PracticeSocket.OPEN = OPEN;
  PracticeSocket.CLOSING = CLOSING;
  PracticeSocket.CLOSED = CLOSED;

  PracticeSocket.prototype.addEventListener = function (type, listener) {
    (this.listeners[type] = this.listeners[type] || []).push(listener);
  };

  PracticeSocket.prototype.removeEventListener = function (type, listener) {
    this.listeners[type] = (this.listeners[type] || []).filter(function (known) {
      return known !== listener;
    });
  };

  PracticeSocket.prototype.emit = function (type, event) {
    var socket = this;
    (socket.listeners[type] || []).slice().forEach(function (listener) {
      listener.call(socket, event);
    });
  };

  // One event to this socket, as the network would: after the current task, in order.
  PracticeSocket.prototype.deliver = function (event) {
    var socket = this;
    if (socket.readyState !== OPEN) {
      return;
    }
    if (event.type === "message") {
      socket.lastSent = Math.max(socket.lastSent, event.position);
    }
    var data = JSON.stringify(event);
    tell("sent", JSON.parse(data));
    later(0, function () {
      if (socket.readyState === OPEN) {
        socket.emit("message", new MessageEvent("message", { data: data }));
      }
    });
  };

  PracticeSocket.prototype.send = function (data) {
    var socket = this;
    if (socket.readyState === CONNECTING) {
      throw new DOMException("The practice room is still opening.", "InvalidStateError");
    }
    if (socket.readyState !== OPEN) {
      return; // a closed socket drops what it is given, as a WebSocket does
    }
    later(0, function () {
      if (socket.readyState === OPEN) {
        receive(socket, String(data));
      }
    });
  };

  PracticeSocket.prototype.close = function (code) {
    var socket = this;
    if (socket.readyState === CLOSING || socket.readyState === CLOSED) {
      return;
    }
    socket.readyState = CLOSED;
    room.sockets = room.sockets.filter(function (other) {
      return other !== socket;
    });
    later(0, function () {
      socket.emit("close", new CloseEvent("close", { code: code || 1005, reason: "", wasClean: true }));
    });
  };

  // For the guided walk (practice_walk.js): hear the room, and play the facilitator.
  PracticeSocket.room = {
    listen: function (listener) {
      room.listeners.push(listener);
    },
    pin: pin,
    startRound: startRound,
    you: YOU
  };

  window.HearthPracticeSocket = PracticeSocket;
})();
