/* Hearth: the live room. One small script, no dependencies, no build.

   The page arrives with everything said so far. This script connects the room's socket
   (protocol: docs/protocol.md), shows new messages in order, keeps the connection line honest,
   resends what was not confirmed after a reconnect (three tries, then it asks the person), and
   gives facilitators their controls.
   Message text only ever reaches the page through textContent, never as HTML. */
(function () {
  "use strict";

  var configNode = document.getElementById("room-config");
  if (!configNode || !("WebSocket" in window)) {
    return;
  }
  var cfg = JSON.parse(configNode.textContent);
  var isFacilitator = cfg.role === "facilitator";

  var CLOSE_ENDED = 4000;
  var CLOSE_REVOKED = 4001;
  var CLOSE_REMOVED = 4003;
  var MAX_BODY = 2000;
  var SILENCE_LIMIT_MS = 150000; // the server sends presence every 60 s; longer silence is a dead socket
  var SEND_TRIES = 3; // sockets that may close under one unacknowledged message before the page stops
  var STEADY_MS = 10000; // a connection that lasted this long was not the problem: backoff starts again
  var URL_PATTERN = /https?:\/\/[^\s<>"'`]{1,200}(?![^\s<>"'`])/gi;

  function byId(id) {
    return document.getElementById(id);
  }

  var ui = {
    status: byId("room-status"),
    ends: byId("room-ends"),
    timeLeft: byId("time-left"),
    connection: byId("connection-state"),
    pinned: byId("pinned"),
    pinnedText: byId("pinned-text"),
    lockedNote: byId("locked-note"),
    warning: byId("room-warning"),
    announcer: byId("room-announcer"),
    messageAnnouncer: byId("message-announcer"),
    list: byId("messages"),
    empty: byId("messages-empty"),
    newBelow: byId("new-below"),
    form: byId("send-form"),
    body: byId("message-body"),
    count: byId("message-count"),
    sendState: byId("send-state"),
    sendButton: byId("send-button"),
    sendError: byId("send-error"),
    presence: byId("presence"),
    peopleCount: byId("people-count"),
    hiddenPeople: byId("hidden-people"),
    hideHint: byId("hide-hint"),
    hiddenPeopleList: byId("hidden-people-list"),
    controls: byId("controls"),
    controlError: byId("control-error"),
    lockState: byId("lock-state"),
    lockToggle: byId("lock-toggle"),
    pinForm: byId("pin-form"),
    pinInput: byId("pin-text"),
    pinClear: byId("pin-clear"),
    extendForm: byId("extend-form"),
    extendMinutes: byId("extend-minutes"),
    extendDone: byId("extend-done"),
    endButton: byId("end-session"),
    comeBack: byId("help-come-back"),
    checkoutOffer: byId("checkout-offer")
  };

  // --- State ------------------------------------------------------------------------------

  var me = cfg.participant; // null until the first room.state if this is the first visit
  var startsAt = new Date(cfg.starts_at);
  var endsAt = new Date(cfg.ends_at);
  var extended = Boolean(cfg.extended);
  var locked = Boolean(cfg.locked);
  var muted = false;
  var lastPosition = 0;
  var names = new Map(); // participant id -> name, from messages and presence
  var hiddenAuthors = new Set(); // "Mute for me"
  var people = []; // the latest presence list
  // client_id -> {text, socket, losses, stalled}: not yet acknowledged by the server. `socket` is
  // the one that last carried it, `losses` how many sockets closed under it, `stalled` that the
  // page has stopped sending it by itself and waits for the person.
  var pending = new Map();
  var presenceShown = ""; // what the presence list shows now, to redraw only on change
  var menuOpen = null; // the participant whose actions show under their name, if any
  var heard = []; // new messages from others not announced yet
  var heardTimer = null;

  var socket = null;
  var connectedOnce = false; // a history.end has arrived at least once
  var replaying = false;
  var resyncAsked = false;
  var finished = false; // ended, removed or revoked: never reconnect
  var sessionOver = false; // the session itself has ended (not only this person's place in it)
  var attempt = 0;
  var retryTimer = null;
  var upSince = 0; // when the current connection finished its catch-up
  var lastHeard = 0;
  var lastErrorArea = "send";

  // --- Small helpers ----------------------------------------------------------------------

  function make(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  function hiddenText(text) {
    return make("span", "visually-hidden", text);
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Not a secure context (plain http on a LAN address): build a version 4 UUID by hand.
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  var clock = (function () {
    var options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      return new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: cfg.time_zone }, options));
    } catch (error) {
      return new Intl.DateTimeFormat(undefined, options);
    }
  })();

  function formatTime(date) {
    return clock.format(date);
  }

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  // Private to the writer: crisis lines, shown calmly and never to anyone else.
  function showCrisisSupport(event) {
    var box = document.getElementById("crisis-support");
    if (!box) {
      return;
    }
    document.getElementById("crisis-support-note").textContent = event.note;
    var list = document.getElementById("crisis-support-lines");
    var items = document.createDocumentFragment();
    (event.lines || []).forEach(function (line) {
      var item = make("li", "crisis-line");
      item.appendChild(make("strong", "", line.name));
      if (line.phone) {
        item.appendChild(document.createTextNode(" "));
        var call = make("a", "crisis-line__call", "Call " + line.phone);
        call.href = "tel:" + line.phone.replace(/\s+/g, "");
        item.appendChild(call);
      }
      if (line.text) {
        item.appendChild(document.createTextNode(" · " + line.text));
      }
      if (line.hours) {
        item.appendChild(document.createTextNode(" · " + line.hours));
      }
      items.appendChild(item);
    });
    list.replaceChildren(items);
    box.hidden = false;
  }

  // For facilitators only (the server sends these to them alone).
  function facilitatorAlert(text, position) {
    var alerts = document.getElementById("facilitator-alerts");
    if (!alerts) {
      return;
    }
    var item = make("li", "room__alert notice notice--warning", text + " ");
    if (position) {
      var link = make("a", "", "Go to the message");
      link.href = "#m-" + position;
      item.appendChild(link);
    }
    alerts.appendChild(item);
    alerts.hidden = false;
  }

  function announce(text) {
    speak(ui.announcer, text);
  }

  function speak(region, text) {
    // Clear first so that the same words twice are announced twice.
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  // The conversation is not a live region: a screen reader would read out every message in
  // full, and a reconnect's whole catch-up again. New messages from others are told in a few
  // words in their own region instead; several arriving together are counted. Neither the
  // history nor a catch-up is told, nor one's own words, nor anyone hidden "for me".
  var HEARD_WAIT_MS = 700; // a burst arriving within this is told once
  var HEARD_WORDS = 160; // characters of a message read out; the rest is in the conversation

  function announceMessage(event, item) {
    if (replaying || item.hidden || event.hidden || (me !== null && event.author === me)) {
      return;
    }
    heard.push(event);
    if (heardTimer === null) {
      heardTimer = window.setTimeout(tellHeard, HEARD_WAIT_MS);
    }
  }

  function tellHeard() {
    heardTimer = null;
    var batch = heard;
    heard = [];
    if (!batch.length) {
      return;
    }
    var last = batch[batch.length - 1];
    var text;
    if (batch.length === 1) {
      var body = String(last.body).replace(/\s+/g, " ").trim();
      if (body.length > HEARD_WORDS) {
        body = body.slice(0, HEARD_WORDS).replace(/\s+\S*$/, "") + "…";
      }
      text = "New message from " + (last.name || "Hearth") + ": " + body;
    } else {
      text = batch.length + " new messages, the last from " + (last.name || "Hearth") + ".";
    }
    speak(ui.messageAnnouncer, text);
  }

  function setConnection(text, tone) {
    if (ui.connection.textContent !== text) {
      ui.connection.textContent = text;
    }
    ui.connection.className = "room__connection" + (tone ? " room__connection--" + tone : "");
  }

  function showError(area, text) {
    var target = area === "controls" && ui.controlError ? ui.controlError : ui.sendError;
    target.textContent = text;
  }

  function clearErrors() {
    ui.sendError.textContent = "";
    if (ui.controlError) {
      ui.controlError.textContent = "";
    }
  }

  // Text with line breaks and safe links: only http(s) addresses up to 200 characters.
  function appendText(parent, text) {
    var lines = String(text).split(/\r\n|\r|\n/);
    lines.forEach(function (line, index) {
      if (index > 0) {
        parent.appendChild(document.createElement("br"));
      }
      appendLinked(parent, line);
    });
  }

  function appendLinked(parent, text) {
    var at = 0;
    var match;
    URL_PATTERN.lastIndex = 0;
    while ((match = URL_PATTERN.exec(text)) !== null) {
      var candidate = match[0].replace(/[.,;:!?)\]}]+$/, "");
      var link = safeLink(candidate);
      if (!link) {
        continue;
      }
      if (match.index > at) {
        parent.appendChild(document.createTextNode(text.slice(at, match.index)));
      }
      parent.appendChild(link);
      at = match.index + candidate.length;
      URL_PATTERN.lastIndex = at;
    }
    if (at < text.length) {
      parent.appendChild(document.createTextNode(text.slice(at)));
    }
  }

  function safeLink(candidate) {
    var url;
    try {
      url = new URL(candidate);
    } catch (error) {
      return null;
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) {
      return null;
    }
    var link = make("a", "msg__link", candidate);
    link.href = url.href;
    link.rel = "noopener noreferrer nofollow";
    link.target = "_blank";
    link.appendChild(hiddenText(" (opens in a new tab)"));
    return link;
  }

  // Server-rendered bodies are plain text with <br>: link their text nodes the same way.
  function linkifyExisting(body) {
    Array.prototype.slice.call(body.childNodes).forEach(function (node) {
      if (node.nodeType !== Node.TEXT_NODE || !/https?:\/\//i.test(node.data)) {
        return;
      }
      var fragment = document.createDocumentFragment();
      appendLinked(fragment, node.data);
      body.replaceChild(fragment, node);
    });
  }

  // --- Messages ---------------------------------------------------------------------------

  function authorOf(item) {
    var value = item.getAttribute("data-author");
    return value ? Number(value) : null;
  }

  function itemAt(position) {
    return byId("m-" + position);
  }

  function nearBottom() {
    var list = ui.list;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.list.scrollTop = ui.list.scrollHeight;
    ui.newBelow.hidden = true;
  }

  function addHideButton(item) {
    if (!isFacilitator || item.querySelector(".msg__hide") || item.classList.contains("msg--removed")) {
      return;
    }
    var position = Number(item.getAttribute("data-position"));
    var name = item.querySelector(".msg__name").textContent;
    var time = item.querySelector(".msg__time");
    var button = make("button", "link-button msg__hide", "Hide for everyone");
    button.type = "button";
    button.appendChild(hiddenText(": the message from " + name + (time ? " at " + time.textContent : "")));
    button.addEventListener("click", function () {
      if (window.confirm("Hide this message from " + name + " for everyone? This cannot be undone.")) {
        send({ type: "control.hide", position: position }, "controls");
      }
    });
    item.appendChild(button);
  }

  function markRemoved(item) {
    item.classList.add("msg--removed");
    var body = item.querySelector(".msg__body");
    var replacement = make("p", "msg__body msg__body--removed", "Removed by the facilitator");
    if (body) {
      item.replaceChild(replacement, body);
    } else {
      item.appendChild(replacement);
    }
    var button = item.querySelector(".msg__hide");
    if (button) {
      var hadFocus = document.activeElement === button;
      button.remove();
      if (hadFocus) {
        ui.list.focus();
      }
    }
  }

  function applyHiddenForMe(item) {
    var author = authorOf(item);
    var hide = author !== null && hiddenAuthors.has(author);
    item.hidden = hide;
    if (hide) {
      item.setAttribute("data-hidden-for-me", "");
    } else {
      item.removeAttribute("data-hidden-for-me");
    }
  }

  function buildMessage(event) {
    var item = make("li", "msg");
    item.id = "m-" + event.position;
    item.setAttribute("data-position", String(event.position));
    item.setAttribute("data-author", event.author === null ? "" : String(event.author));
    if (event.facilitator) {
      item.classList.add("msg--facilitator");
    }
    var mine = me !== null && event.author === me;
    if (mine) {
      item.classList.add("msg--mine");
    }

    var meta = make("p", "msg__meta");
    meta.appendChild(make("bdi", "msg__name", event.name)); // people's words never reorder the line
    if (mine) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(make("span", "msg__you", "(you)"));
    }
    if (event.facilitator) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(make("span", "badge msg__badge", "facilitator"));
    }
    var created = new Date(event.created_at);
    var time = make("time", "msg__time", formatTime(created));
    time.dateTime = event.created_at;
    meta.appendChild(document.createTextNode(" "));
    meta.appendChild(time);
    if (event.before_start) {
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(make("span", "msg__label", "before the start"));
    }
    item.appendChild(meta);

    if (event.hidden) {
      item.classList.add("msg--removed");
      item.appendChild(make("p", "msg__body msg__body--removed", "Removed by the facilitator"));
    } else {
      var body = make("p", "msg__body");
      body.dir = "auto"; // its own direction, isolated from the rest of the page
      appendText(body, event.body);
      item.appendChild(body);
      addHideButton(item);
    }
    if (!mine && event.author !== null && !event.hidden) {
      item.appendChild(reportLink("?session=" + cfg.session + "&position=" + event.position,
        "Report", ": the message from " + event.name));
    }
    applyHiddenForMe(item);
    return item;
  }

  // Reporting opens its own small form in a new tab, so the room stays open here.
  function reportLink(query, label, more) {
    var link = make("a", "msg__report", label);
    link.href = cfg.report_url + query;
    link.target = "_blank";
    link.rel = "noopener";
    link.appendChild(hiddenText(more + " (opens in a new tab)"));
    return link;
  }

  function onMessage(event) {
    if (event.author !== null && event.name) {
      names.set(event.author, event.name);
    }
    if (event.position <= lastPosition) {
      // Already shown. It may have been hidden since the page was rendered.
      var existing = itemAt(event.position);
      if (existing && event.hidden && !existing.classList.contains("msg--removed")) {
        markRemoved(existing);
      }
      return;
    }
    if (event.position > lastPosition + 1) {
      // A gap: never show messages out of order. Ask for everything after the last one shown.
      if (!resyncAsked) {
        resyncAsked = true;
        send({ type: "resync", after: lastPosition });
      }
      return;
    }
    var stick = nearBottom();
    var item = buildMessage(event);
    ui.list.appendChild(item);
    lastPosition = event.position;
    announceMessage(event, item);
    ui.empty.hidden = true;
    if (stick || (me !== null && event.author === me)) {
      scrollToBottom();
    } else if ((!replaying || connectedOnce) && !ui.list.lastElementChild.hidden) {
      ui.newBelow.hidden = false;
    }
  }

  // --- Sending ----------------------------------------------------------------------------

  function isOpen() {
    return socket !== null && socket.readyState === WebSocket.OPEN && !replaying;
  }

  function send(event, area) {
    if (area) {
      lastErrorArea = area;
    }
    if (socket === null || socket.readyState !== WebSocket.OPEN) {
      if (area) {
        showError(area, "You are not connected right now, so that did not go through. Please try again when the connection is back.");
      }
      return false;
    }
    socket.send(JSON.stringify(event));
    return true;
  }

  // Send what this socket has not carried yet, with the same client_id as before: a message
  // that did arrive before a disconnect is only acknowledged again, never stored twice.
  function flushPending() {
    pending.forEach(function (entry, clientId) {
      if (!entry.stalled && entry.socket !== socket &&
          send({ type: "message.send", client_id: clientId, body: entry.text })) {
        entry.socket = socket;
      }
    });
  }

  // How many messages the page will still send by itself.
  function waitingToSend() {
    var count = 0;
    pending.forEach(function (entry) {
      if (!entry.stalled) {
        count += 1;
      }
    });
    return count;
  }

  function firstStalled() {
    var found = null;
    pending.forEach(function (entry) {
      if (entry.stalled && found === null) {
        found = entry;
      }
    });
    return found;
  }

  // A socket that closes under an unacknowledged message is one failed try at sending it. A
  // server that fails on one message (closing with 1011, say) would otherwise be sent the same
  // words after every reconnect, for ever: after SEND_TRIES the page stops and asks the person.
  function countLostSends(lost) {
    var gaveUp = false;
    pending.forEach(function (entry) {
      if (entry.socket === lost && !entry.stalled) {
        entry.losses += 1;
        if (entry.losses >= SEND_TRIES) {
          entry.stalled = true;
          gaveUp = true;
        }
      }
    });
    if (gaveUp) {
      showSendFailure();
    }
  }

  function showSendFailure() {
    var entry = firstStalled();
    if (entry && !ui.body.value.trim()) {
      ui.body.value = entry.text; // never lose what the person wrote
      updateCount();
    }
    var retryButton = make("button", "button--secondary room-error__retry", "Try again");
    retryButton.type = "button";
    retryButton.id = "send-retry";
    // #send-error is an alert region: filling it is announced.
    ui.sendError.replaceChildren(
      make("p", "room-error__text", "Your message could not be sent. Your words are still in the box."),
      retryButton
    );
    ui.sendState.textContent = "";
  }

  // "Try again": send what is in the box, with a fresh count of tries, and do not wait out the
  // backoff if the socket is down.
  function tryAgain() {
    var entry = firstStalled();
    if (entry && !ui.body.value.trim()) {
      ui.body.value = entry.text;
      updateCount();
    }
    ui.body.focus(); // the button is about to go; the words are where the person can act on them
    attempt = 0;
    submitMessage();
    reconnectNow();
  }

  function updateCount() {
    var length = ui.body.value.length;
    var text = length.toLocaleString("en") + " of 2,000 characters";
    if (length >= MAX_BODY - 100) {
      text += ", " + (MAX_BODY - length).toLocaleString("en") + " left";
    }
    ui.count.textContent = text;
  }

  function submitMessage() {
    clearErrors();
    lastErrorArea = "send";
    if (finished) {
      return;
    }
    if (muted) {
      showError("send", MUTED_TEXT);
      return;
    }
    var text = ui.body.value.trim();
    if (!text) {
      showError("send", "Your message is empty.");
      ui.body.focus();
      return;
    }
    // The same words pressed twice are one message: reuse its client_id (the server ignores
    // the repeat), and count its tries afresh. A draft that never left this page, or one the
    // page gave up on and handed back, that was then edited is replaced.
    var clientId = null;
    pending.forEach(function (entry, id) {
      if (entry.text === text) {
        clientId = id;
        entry.losses = 0;
        entry.stalled = false;
      } else if (entry.socket === null || entry.stalled) {
        pending.delete(id);
      }
    });
    if (clientId === null) {
      clientId = uuid();
      pending.set(clientId, { text: text, socket: null, losses: 0, stalled: false });
    }
    if (isOpen()) {
      if (send({ type: "message.send", client_id: clientId, body: text })) {
        pending.get(clientId).socket = socket;
      }
      ui.sendState.textContent = "Sending…";
    } else if (socket !== null && socket.readyState === WebSocket.OPEN) {
      ui.sendState.textContent = "Sending…"; // goes out as soon as the catch-up ends
    } else {
      ui.sendState.textContent = "Not sent yet: it will be sent when the connection is back.";
    }
  }

  function onAck(event) {
    var entry = pending.get(event.client_id);
    pending.delete(event.client_id);
    if (entry && ui.body.value.trim() === entry.text) {
      ui.body.value = "";
      updateCount();
    }
    ui.sendState.textContent = waitingToSend() ? "Sending…" : "Sent.";
  }

  var MUTED_TEXT = "The facilitator has muted you for the rest of this session. You can still read along.";

  function setMuted(value, quiet) {
    if (muted === value) {
      return;
    }
    muted = value;
    ui.body.readOnly = value || finished;
    ui.sendButton.disabled = value || finished;
    if (value) {
      ui.sendState.textContent = "";
      if (!sessionOver) {
        showError("send", MUTED_TEXT); // after the end there is nothing to be muted from
      }
    } else {
      ui.sendError.textContent = "";
      if (!quiet) {
        announce("The facilitator has unmuted you. You can send messages again.");
      }
    }
  }

  // --- Presence, and what can be done about a person ---------------------------------------

  function personButton(label, action, participant, className) {
    var button = make("button", className || "button--secondary presence__button", label);
    button.type = "button";
    button.setAttribute("data-action", action);
    button.setAttribute("data-participant", String(participant));
    return button;
  }

  var COUNTERPART = { mute: "unmute", unmute: "mute", hide: "show", show: "hide", remove: "remove", menu: "menu", report: "report" };

  // What a person's name offers: "Hide for me" and Report to a member, Mute and Remove to the
  // facilitator (Remove still asks first). It shows under the name when the name is pressed,
  // so the list of who is here stays a list of names.
  function personActions(person) {
    var menu = make("ul", "presence__menu");
    menu.id = "person-actions-" + person.participant;
    function add(node) {
      var item = make("li");
      item.appendChild(node);
      menu.appendChild(item);
    }
    if (isFacilitator) {
      add(person.muted
        ? personButton("Unmute " + person.name, "unmute", person.participant)
        : personButton("Mute " + person.name, "mute", person.participant));
      add(personButton("Remove " + person.name + " from the session", "remove", person.participant,
        "button--danger presence__button"));
    } else {
      add(hiddenAuthors.has(person.participant)
        ? personButton("Show " + person.name + "’s messages again", "show", person.participant)
        : personButton("Hide " + person.name + "’s messages for me", "hide", person.participant));
      var report = reportLink("?session=" + cfg.session + "&participant=" + person.participant,
        "Report " + person.name, "");
      report.className = "presence__report";
      report.setAttribute("data-action", "report");
      report.setAttribute("data-participant", String(person.participant));
      add(report);
    }
    return menu;
  }

  function nameButton(person, open) {
    var button = make("button", "presence__person");
    button.type = "button";
    button.setAttribute("data-action", "menu");
    button.setAttribute("data-participant", String(person.participant));
    button.setAttribute("aria-expanded", open ? "true" : "false");
    button.setAttribute("aria-controls", "person-actions-" + person.participant);
    button.appendChild(make("bdi", "presence__name", person.name));
    button.appendChild(hiddenText(": options"));
    var mark = make("span", "presence__mark", "▾");
    mark.setAttribute("aria-hidden", "true");
    button.appendChild(mark);
    return button;
  }

  function showMenu(participant) {
    menuOpen = participant;
    ui.presence.querySelectorAll('button[data-action="menu"]').forEach(function (button) {
      var open = Number(button.getAttribute("data-participant")) === participant;
      button.setAttribute("aria-expanded", open ? "true" : "false");
      var menu = byId(button.getAttribute("aria-controls"));
      if (menu) {
        menu.hidden = !open;
      }
    });
  }

  function renderPresence() {
    var shown = JSON.stringify([me, people, Array.from(hiddenAuthors), sessionOver]);
    if (shown === presenceShown) {
      return; // unchanged: leave the buttons alone, so focus and screen readers stay put
    }
    presenceShown = shown;
    var focused = document.activeElement;
    var focusAction = focused && ui.presence.contains(focused) ? focused.getAttribute("data-action") : null;
    var focusParticipant = focusAction ? focused.getAttribute("data-participant") : null;

    var items = document.createDocumentFragment();
    var menuStays = false;
    people.forEach(function (person) {
      names.set(person.participant, person.name);
      var item = make("li", "presence");
      item.setAttribute("data-participant", String(person.participant));
      var self = me !== null && person.participant === me;
      var actionable = !self && !person.facilitator;
      var open = actionable && menuOpen === person.participant;
      menuStays = menuStays || open;
      item.appendChild(actionable ? nameButton(person, open) : make("bdi", "presence__name", person.name));
      if (self) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(make("span", "msg__you", "(you)"));
      }
      if (person.facilitator) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(make("span", "badge", "facilitator"));
      }
      if (person.muted) {
        item.appendChild(document.createTextNode(" "));
        item.appendChild(make("span", "badge presence__muted", "muted"));
      }
      if (actionable) {
        var menu = personActions(person);
        menu.hidden = !open;
        item.appendChild(menu);
      }
      items.appendChild(item);
    });
    if (!menuStays) {
      menuOpen = null; // that person has left
    }
    if (!people.length) {
      items.appendChild(make("li", "presence presence--empty",
        sessionOver ? "The session has ended." : "Nobody is connected yet."));
    }
    ui.presence.replaceChildren(items);
    ui.peopleCount.textContent = "(" + people.length + ")";

    if (focusAction) {
      var selector = '[data-participant="' + focusParticipant + '"]';
      var again = ui.presence.querySelector(selector + '[data-action="' + focusAction + '"]') ||
        ui.presence.querySelector(selector + '[data-action="' + COUNTERPART[focusAction] + '"]') ||
        ui.presence.querySelector(selector + '[data-action="menu"]');
      if (again) {
        again.focus();
      } else {
        ui.presence.setAttribute("tabindex", "-1");
        ui.presence.focus();
      }
    }
    renderHiddenPeople();
  }

  function renderHiddenPeople() {
    if (!ui.hiddenPeople) {
      return;
    }
    var here = new Set(people.map(function (person) { return person.participant; }));
    var items = document.createDocumentFragment();
    var count = 0;
    hiddenAuthors.forEach(function (participant) {
      if (here.has(participant)) {
        return;
      }
      count += 1;
      var name = names.get(participant) || "someone who has left";
      var item = make("li");
      item.appendChild(personButton("Show " + name + "’s messages again", "show", participant));
      items.appendChild(item);
    });
    ui.hiddenPeopleList.replaceChildren(items);
    ui.hiddenPeople.hidden = count === 0;
  }

  function setHiddenForMe(participant, hidden) {
    if (!send({ type: "hide_author", participant: participant, hidden: hidden }, "send")) {
      return;
    }
    if (hidden) {
      hiddenAuthors.add(participant);
    } else {
      hiddenAuthors.delete(participant);
    }
    ui.list.querySelectorAll("li[data-author=\"" + participant + "\"]").forEach(applyHiddenForMe);
    renderPresence();
    var name = names.get(participant) || "This person";
    announce(hidden
      ? "You will not see " + name + "’s messages. Only you are affected."
      : "You will see " + name + "’s messages again.");
  }

  ui.presence.addEventListener("click", onPersonAction);
  ui.presence.addEventListener("keydown", function (key) {
    if (key.key !== "Escape" || menuOpen === null) {
      return;
    }
    // Close the open name's options and go back to the name (not the whole panel: the drawer
    // sees that this Escape was used).
    key.preventDefault();
    var name = ui.presence.querySelector('button[data-action="menu"][data-participant="' + menuOpen + '"]');
    showMenu(null);
    if (name) {
      name.focus();
    }
  });
  if (ui.hiddenPeopleList) {
    ui.hiddenPeopleList.addEventListener("click", onPersonAction);
  }

  function onPersonAction(click) {
    var button = click.target.closest("button[data-action]");
    if (!button) {
      return;
    }
    var participant = Number(button.getAttribute("data-participant"));
    var name = names.get(participant) || "this person";
    var action = button.getAttribute("data-action");
    if (action === "menu") {
      showMenu(menuOpen === participant ? null : participant);
      return;
    }
    clearErrors();
    if (action === "hide" || action === "show") {
      setHiddenForMe(participant, action === "hide");
    } else if (action === "mute" || action === "unmute") {
      send({ type: "control." + action, participant: participant }, "controls");
    } else if (action === "remove") {
      if (window.confirm("Remove " + name + " from this session? They will not be able to come back into it.")) {
        send({ type: "control.remove", participant: participant }, "controls");
      }
    }
  }

  // --- The room's state -------------------------------------------------------------------

  function setEnd(iso) {
    endsAt = new Date(iso);
    ui.ends.dateTime = iso;
    ui.ends.textContent = formatTime(endsAt);
    updateTimeLeft();
  }

  function setLocked(value) {
    locked = value;
    ui.lockedNote.hidden = !value;
    if (ui.lockToggle) {
      ui.lockState.textContent = value ? "The room is closed to new arrivals." : "New arrivals can come in.";
      ui.lockToggle.textContent = value ? "Open the room to new arrivals" : "Close the room to new arrivals";
    }
  }

  function setPinned(text) {
    ui.pinnedText.textContent = text;
    ui.pinned.hidden = !text;
    if (ui.pinInput && document.activeElement !== ui.pinInput) {
      ui.pinInput.value = text;
    }
  }

  function setExtended(value) {
    extended = value;
    if (ui.extendForm) {
      ui.extendForm.hidden = value;
      ui.extendDone.hidden = !value;
    }
  }

  function onState(state) {
    me = state.you.participant;
    startsAt = new Date(state.starts_at);
    setEnd(state.ends_at);
    setExtended(Boolean(state.extended));
    setLocked(Boolean(state.locked));
    setPinned(state.pinned || "");
    hiddenAuthors = new Set(state.hidden_authors || []);
    // Messages hidden while this page was away: their message.hidden event was not replayed.
    (state.hidden_positions || []).forEach(function (position) {
      var item = itemAt(position);
      if (item && !item.classList.contains("msg--removed")) {
        markRemoved(item);
      }
    });
    ui.list.querySelectorAll("li[data-author]").forEach(function (item) {
      applyHiddenForMe(item);
      var author = authorOf(item);
      item.classList.toggle("msg--mine", author !== null && author === me);
    });
    setMuted(Boolean(state.you.muted), true);
    renderPresence();
    if (floor) {
      floor.onState(state);
    }
  }

  function finish(text, offerReload) {
    finished = true;
    window.clearTimeout(retryTimer);
    setConnection(text, "finished");
    if (offerReload) {
      var reload = make("a", null, "Reload the page");
      reload.href = location.pathname;
      ui.connection.appendChild(document.createTextNode(" "));
      ui.connection.appendChild(reload);
    }
    ui.sendButton.disabled = true;
    ui.body.readOnly = true;
    if (floor) {
      floor.close();
    }
    if (ui.hideHint) {
      ui.hideHint.hidden = true;
    }
    ui.sendState.textContent = pending.size
      ? "Your last message may not have been sent. Its words are still in the box if you want to copy them."
      : "";
    pending.clear();
    if (byId("send-retry")) {
      ui.sendError.textContent = ""; // nothing to try again: the box is closed
    }
    if (ui.controls) {
      ui.controls.hidden = true;
    }
    ui.warning.hidden = true;
    ui.newBelow.hidden = true;
    ui.presence.querySelectorAll("button").forEach(function (button) {
      button.disabled = true;
    });
    ui.list.removeAttribute("aria-busy");
    updateTimeLeft();
  }

  // The end of the session, said once however it arrives (the room's event, the socket's close
  // code, an error, or a reconnect the server refuses): nobody is here any more, nothing is left
  // to come back to, and a mute no longer matters. Members are offered the check-out.
  function ended() {
    if (sessionOver) {
      return;
    }
    sessionOver = true;
    if (Date.now() < endsAt.getTime()) {
      endsAt = new Date(); // ended early by the facilitator
    }
    finish("This session has ended. Thank you for being here.");
    if (ui.sendError.textContent === MUTED_TEXT) {
      ui.sendError.textContent = "";
    }
    people = [];
    renderPresence();
    ui.lockedNote.hidden = true;
    if (ui.comeBack) {
      ui.comeBack.hidden = true;
    }
    if (ui.hiddenPeople) {
      ui.hiddenPeople.hidden = true;
    }
    if (ui.checkoutOffer) {
      ui.checkoutOffer.hidden = false;
    }
  }

  var REVOKED = {
    logged_out: "You have been logged out, so the room has closed for you. Log in again to come back.",
    expired: "For your safety you were logged out after a long time logged in. Log in again to come back.",
    inactive: "This account is no longer active, so the room has closed for you.",
    mfa_required: "Your role now needs two-step login. Set it up, then come back to the room.",
    suspended: "Your account has been suspended, so the room has closed for you.",
    not_allowed: "You are no longer a member of this group, so the room has closed for you.",
    cancelled: "This session has been cancelled, so the room has closed.",
    too_early: "This session has been moved, so the room has closed for now. Its new time is in My schedule."
  };

  function revoked(reason) {
    finish(REVOKED[reason] || "The room is closed to you now.", !REVOKED[reason] || reason === "logged_out" || reason === "expired" || reason === "mfa_required");
  }

  function removed() {
    finish("The facilitator has asked you to leave this session. You are still a member of the group. If you need support now, use Get help now.");
  }

  // --- Time -------------------------------------------------------------------------------

  function updateTimeLeft() {
    var now = Date.now();
    var before = now < startsAt.getTime();
    var over = sessionOver || now >= endsAt.getTime();
    if (!finished || sessionOver) {
      var label = over ? "Closed" : before ? "Room open" : "Live";
      if (ui.status.textContent !== label) {
        ui.status.textContent = label;
        ui.status.className = "status status--" + (over ? "closed" : before ? "open" : "live");
      }
    }
    var text;
    if (over) {
      text = "Ended at " + formatTime(endsAt) + "."; // the connection line says it has ended
    } else {
      text = "Ends at " + formatTime(endsAt) + ".";
      if (!finished && before) {
        var until = Math.ceil((startsAt.getTime() - now) / 60000);
        text = (until <= 1 ? "Starts in less than a minute. " : "Starts in " + until + " minutes. ") + text;
      } else if (!finished) {
        var left = Math.round((endsAt.getTime() - now) / 60000);
        if (endsAt.getTime() - now < 60000) {
          text = "Less than a minute left. " + text;
        } else if (left < 60) {
          text = "About " + plural(left, "minute") + " left. " + text;
        } else {
          var hours = Math.floor(left / 60);
          var minutes = left % 60;
          text = "About " + plural(hours, "hour") + (minutes ? " and " + plural(minutes, "minute") : "") +
            " left. " + text;
        }
      }
    }
    if (ui.timeLeft.textContent !== text) {
      ui.timeLeft.textContent = text;
    }
  }

  // --- The socket -------------------------------------------------------------------------

  // The practice room (chat/practice.py) has no socket on the server: practice_socket.js stands
  // in for one, speaking the same protocol from the page's memory. Never the real server there.
  function openSocket(url) {
    return cfg.practice ? new window.HearthPracticeSocket(url) : new WebSocket(url);
  }

  function connect() {
    window.clearTimeout(retryTimer);
    if (finished) {
      return;
    }
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + cfg.ws_path +
      "?after=" + lastPosition;
    var opened = false;
    var current = openSocket(url);
    socket = current;

    current.addEventListener("open", function () {
      opened = true;
      lastHeard = Date.now();
      replaying = true;
      resyncAsked = false;
      ui.list.setAttribute("aria-busy", "true");
    });
    current.addEventListener("message", function (frame) {
      if (socket !== current) {
        return;
      }
      lastHeard = Date.now();
      var event;
      try {
        event = JSON.parse(frame.data);
      } catch (error) {
        return;
      }
      handle(event);
    });
    current.addEventListener("close", function (closing) {
      if (socket !== current) {
        return; // a socket this page already gave up on
      }
      socket = null;
      replaying = false;
      ui.list.removeAttribute("aria-busy");
      if (finished) {
        return;
      }
      if (closing.code === CLOSE_ENDED) {
        ended();
      } else if (closing.code === CLOSE_REMOVED) {
        removed();
      } else if (closing.code === CLOSE_REVOKED) {
        revoked("");
      } else if (!opened) {
        refused();
      } else {
        countLostSends(current);
        retry();
      }
    });
  }

  function retry() {
    if (finished) {
      return;
    }
    // A connection that failed soon after it was made is not a fresh start: without this, a
    // server that accepts and then fails would be reconnected to every second, for ever.
    if (upSince && Date.now() - upSince >= STEADY_MS) {
      attempt = 0;
    }
    upSince = 0;
    var base = Math.min(15000, 1000 * Math.pow(2, attempt));
    attempt += 1;
    var text = connectedOnce ? "Connection lost. Reconnecting…" : "Still connecting…";
    if (waitingToSend()) {
      text += " Your message is kept and will be sent when the connection is back.";
      ui.sendState.textContent = "Not confirmed yet: it will be sent when the connection is back.";
    }
    setConnection(text, "waiting");
    retryTimer = window.setTimeout(connect, base + Math.random() * 1000);
  }

  // The server refuses a handshake without saying why: ask the page itself.
  function refused() {
    if (Date.now() >= endsAt.getTime()) {
      ended();
      return;
    }
    window.fetch(location.pathname, {
      method: "HEAD",
      credentials: "same-origin",
      redirect: "manual",
      cache: "no-store"
    }).then(function (response) {
      if (finished) {
        return;
      }
      if (response.type === "opaqueredirect" || (response.status >= 300 && response.status < 400)) {
        revoked("logged_out");
      } else if (response.headers.get("X-Room-Refusal") === "closed") {
        ended(); // ended early while this page was away: the same words as if it had been here
      } else if (response.status === 403 || response.status === 404) {
        revoked("");
      } else {
        retry(); // the room is still open to us: a network or server hiccup
      }
    }, function () {
      retry(); // offline: keep trying
    });
  }

  function dropSocket() {
    // A socket that has gone quiet (a phone asleep, a dead network) may take minutes to report
    // its end: stop listening to it and open a new one.
    var old = socket;
    socket = null;
    replaying = false;
    if (old) {
      try {
        old.close();
      } catch (error) {
        // already closing
      }
      countLostSends(old);
    }
    retry();
  }

  function handle(event) {
    switch (event.type) {
      case "room.state":
        onState(event);
        break;
      case "message":
        onMessage(event);
        break;
      case "history.end":
        resyncAsked = false;
        ui.list.removeAttribute("aria-busy");
        if (!replaying) {
          break; // the end of a gap being filled, not of a (re)connection's catch-up
        }
        replaying = false;
        upSince = Date.now();
        if (connectedOnce) {
          setConnection("Reconnected — you’re up to date.", "ok");
        } else {
          setConnection("Connected.", "ok");
          scrollToBottom();
        }
        connectedOnce = true;
        flushPending();
        if (waitingToSend()) {
          ui.sendState.textContent = "Sending…";
        }
        break;
      case "message.ack":
        onAck(event);
        break;
      case "message.hidden":
        var item = itemAt(event.position);
        if (item) {
          markRemoved(item);
        }
        break;
      case "participant.muted":
        people.forEach(function (person) {
          if (person.participant === event.participant) {
            person.muted = event.muted;
          }
        });
        if (event.participant === me) {
          setMuted(Boolean(event.muted));
        }
        renderPresence();
        break;
      case "participant.removed":
        var name = names.get(event.participant);
        people = people.filter(function (person) {
          return person.participant !== event.participant;
        });
        renderPresence();
        if (isFacilitator && name) {
          announce(name + " has been removed from the session.");
        }
        break;
      case "presence":
        people = Array.isArray(event.people) ? event.people : [];
        renderPresence();
        break;
      case "room.locked":
        setLocked(Boolean(event.locked));
        announce(event.locked
          ? "The facilitator has closed the room to new arrivals."
          : "The room is open to new arrivals again.");
        break;
      case "room.pinned":
        setPinned(event.text || "");
        if (event.text) {
          announce("The facilitator pinned a notice: " + event.text);
        }
        break;
      case "room.extended":
        setExtended(true);
        setEnd(event.ends_at);
        ui.warning.hidden = true;
        announce("The session has been extended. It now ends at " + formatTime(endsAt) + ".");
        break;
      case "room.warning":
        ui.warning.textContent = "About " + plural(event.minutes_left, "minute") +
          " left. You may want to start bringing the session to a close" +
          (extended ? "." : ", or extend it once.");
        ui.warning.hidden = false;
        announce(ui.warning.textContent);
        break;
      case "crisis.support":
        showCrisisSupport(event);
        break;
      case "crisis.alert":
        facilitatorAlert("Someone may be in crisis: " + event.name +
          " wrote something that may need your attention.", event.position);
        break;
      case "report.alert":
        facilitatorAlert("A member reported that someone may be in danger.", event.position);
        break;
      case "room.closed":
        ended();
        break;
      case "room.revoked":
        revoked(event.reason);
        break;
      case "you.removed":
        removed();
        break;
      case "error":
        onError(event);
        break;
      case "room.paused":
      case "hands.state":
      case "round.state":
        if (floor) {
          floor.handle(event);
        }
        break;
      default:
        break; // newer servers may say more; ignore what this page does not know
    }
  }

  function onError(event) {
    var code = event.code;
    var text = event.message || "Something went wrong. Please try again.";
    if (event.client_id) {
      pending.delete(event.client_id); // refused: the words stay in the box
      ui.sendState.textContent = "";
      showError("send", text);
    } else {
      showError(lastErrorArea, text);
    }
    if (code === "muted") {
      setMuted(true);
    } else if (code === "closed") {
      ended();
    } else if (code === "removed") {
      removed();
    } else if (code === "not_allowed" || code === "suspended") {
      revoked(code);
    }
  }

  // --- Wiring -----------------------------------------------------------------------------

  // The pause, raised hands and rounds: static/js/room_floor.js draws them.
  var floor = window.HearthFloor ? window.HearthFloor({
    send: send,
    announce: announce,
    clearErrors: clearErrors,
    formatTime: formatTime,
    isFacilitator: isFacilitator,
    me: function () { return me; }
  }) : null;

  Array.prototype.forEach.call(ui.list.querySelectorAll("li[data-position]"), function (item) {
    var position = Number(item.getAttribute("data-position"));
    lastPosition = Math.max(lastPosition, position);
    var author = authorOf(item);
    var name = item.querySelector(".msg__name");
    if (author !== null && name) {
      names.set(author, name.textContent);
    }
    if (item.hasAttribute("data-hidden-for-me") && author !== null) {
      hiddenAuthors.add(author);
    }
    var body = item.querySelector(".msg__body:not(.msg__body--removed)");
    if (body) {
      linkifyExisting(body);
    }
    addHideButton(item);
  });
  lastPosition = Math.max(lastPosition, Number(cfg.last_position) || 0);
  Array.prototype.forEach.call(ui.presence.querySelectorAll("li[data-participant]"), function (item) {
    var name = item.querySelector(".presence__name");
    people.push({
      participant: Number(item.getAttribute("data-participant")),
      name: name ? name.textContent : "",
      facilitator: Boolean(item.querySelector(".badge:not(.presence__muted)")),
      muted: Boolean(item.querySelector(".presence__muted"))
    });
  });

  ui.form.addEventListener("submit", function (submit) {
    submit.preventDefault();
    submitMessage();
  });
  ui.body.addEventListener("keydown", function (key) {
    if (key.key === "Enter" && (key.ctrlKey || key.metaKey)) {
      key.preventDefault();
      submitMessage();
    }
  });
  ui.body.addEventListener("input", function () {
    updateCount();
    if (!pending.size) {
      ui.sendState.textContent = "";
    }
  });
  ui.sendError.addEventListener("click", function (click) {
    if (click.target.closest("#send-retry")) {
      tryAgain();
    }
  });
  ui.newBelow.addEventListener("click", function () {
    scrollToBottom();
    ui.list.focus();
  });
  ui.list.addEventListener("scroll", function () {
    if (nearBottom()) {
      ui.newBelow.hidden = true;
    }
  });

  if (ui.controls) {
    ui.controls.hidden = false;
    ui.lockToggle.addEventListener("click", function () {
      clearErrors();
      send({ type: locked ? "control.unlock" : "control.lock" }, "controls");
    });
    ui.pinForm.addEventListener("submit", function (submit) {
      submit.preventDefault();
      clearErrors();
      send({ type: "control.pin", text: ui.pinInput.value }, "controls");
    });
    ui.pinClear.addEventListener("click", function () {
      clearErrors();
      if (send({ type: "control.pin", text: "" }, "controls")) {
        ui.pinInput.value = "";
      }
    });
    ui.extendForm.addEventListener("submit", function (submit) {
      submit.preventDefault();
      clearErrors();
      send({ type: "control.extend", minutes: Number(ui.extendMinutes.value) }, "controls");
    });
    ui.endButton.addEventListener("click", function () {
      clearErrors();
      if (window.confirm("End this session for everyone now? The room will close and nobody can come back into it.")) {
        send({ type: "control.end" }, "controls");
      }
    });
  }

  ui.sendButton.disabled = false;
  updateCount();
  updateTimeLeft();
  renderPresence();
  scrollToBottom();

  window.setInterval(function () {
    updateTimeLeft();
    if (socket !== null && socket.readyState === WebSocket.OPEN && Date.now() - lastHeard > SILENCE_LIMIT_MS) {
      dropSocket();
    }
  }, 15000);

  function reconnectNow() {
    if (!finished && socket === null) {
      attempt = 0;
      connect();
    }
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      updateTimeLeft();
      reconnectNow();
    }
  });
  window.addEventListener("pageshow", function (show) {
    if (show.persisted) {
      reconnectNow(); // back from the back/forward cache: the old socket is gone
    }
  });

  connect();
})();
