"""The WebSocket of one session's room. Protocol: docs/protocol.md.

The consumer authenticates from the scope, asks ``services.room_recheck`` (the login policy,
then ``room_access``) whether this login may be here now, at the handshake and at every
re-check, calls services in the room's database threads (``chat.db_threads``), and forwards
events, which reach it from the room's relay in this process (``chat.relay``). It delivers
messages to its client in position order with no gaps and no duplicates: history from the
database first, then live events, and a catch-up from the database whenever a live event skips
a position.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone

from accounts.exceptions import ServiceError
from chat import services
from chat.broadcast import facilitators_group, login_group, person_group
from chat.db_threads import db, publish
from chat.floor import floor_state
from chat.models import Room
from chat.presence import broadcast_presence_soon
from chat.protocol import (
    BAD_REQUEST,
    CLOSE_ENDED,
    CLOSE_REMOVED,
    CLOSE_REVOKED,
    ServerEvent,
    encoded,
)
from chat.relay import RoomsHere
from chat.selectors import (
    HISTORY_PAGE,
    RoomAccess,
    RoomRefusal,
    hidden_participants,
    hidden_positions,
    message_event,
    messages_after,
)
from chat.shared_reads import shared_read
from config import metrics

logger = logging.getLogger(__name__)

# A live message that skips a position is held this long for the one it skipped before the
# database fills the gap. Messages committed in order by two server processes (or two threads
# of one) can cross on their way through Redis by a few milliseconds; filling each such gap at
# once cost every socket of the room a query, fifty queries for one message crossing another.
GAP_WAIT_SECONDS = 0.2
EARLY_LIMIT = 200  # held messages past this: fill from the database at once
WARNING_BEFORE_END = timedelta(minutes=5)


class RoomConsumer(AsyncJsonWebsocketConsumer):
    session_id: int
    participant_id: int
    last_sent: int

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run the handler for ``message``, without Channels' close_old_connections first.

        Channels runs that before every event, in the process's one sync thread: a thread hop
        per event, 2,500 a second for a room of 50 at 50 messages a second, and a tenth of the
        server's time. This consumer reaches the database only through ``db()``, whose calls
        look after their thread's connections themselves (``chat.db_threads``).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None:
        """Send, or nothing when the person has just closed the connection: daphne refuses a
        send between their goodbye and its own ("Attempt to send on a closed protocol"), and
        their "disconnect" follows at once. A closed tab is not an error."""
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except Disconnected:
            logger.debug("room %s: a send after the client closed", self.session_id)

    async def connect(self) -> None:
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        self.user = self.scope["user"]
        self.tasks: list[asyncio.Task[None]] = []
        # Delivery in position order: one sender at a time (a handler or the gap timer), and
        # the live messages that arrived ahead of a missing one, by position.
        self.delivering = asyncio.Lock()
        self.early: dict[int, dict[str, Any]] = {}
        self.gap_task: asyncio.Task[None] | None = None
        self.login_key = getattr(self.scope.get("session"), "session_key", None) or ""
        # The login policy and the room's rules, as every re-check asks them.
        entering = services.Socket(
            channel_name=self.channel_name, user_id=self.user.pk, login_key=self.login_key
        )
        verdict = (
            await db(services.room_recheck)(
                session_id=self.session_id, sockets=[entering], now=timezone.now()
            )
        )[self.channel_name]
        if isinstance(verdict, RoomRefusal):
            logger.info("room %s refused user %s: %s", self.session_id, self.user.pk, verdict.code)
            await self.close()  # before accept: the handshake is refused and nothing is sent
            return
        self.access = verdict
        # The room's events for this socket wait in ``self.inbox`` until it has sent the
        # history; message() then drops what the history covered.
        self.inbox: collections.deque[dict[str, Any]] | None = collections.deque()
        self.draining: asyncio.Task[None] | None = None
        self.connected = False
        await RoomsHere.here().listen(self)
        await self.channel_layer.group_add(person_group(self.user.pk), self.channel_name)
        if self.access.role == "facilitator":
            await self.channel_layer.group_add(
                facilitators_group(self.session_id), self.channel_name
            )
        if self.login_key:
            await self.channel_layer.group_add(login_group(self.login_key), self.channel_name)
        participant = await db(services.room_join)(
            access=self.access, channel_name=self.channel_name, now=timezone.now()
        )
        self.participant_id = participant.pk
        metrics.sockets_open.inc()
        self.access = dataclasses.replace(self.access, participant=participant)
        self.muted = participant.muted_at is not None
        self.closes_at = self.access.session.closes_at
        self.warned = False
        await self.accept()
        await self.send_json(await db(self._state)())
        # The history is sent by a task, not by this handler: Channels hands a consumer its
        # next event only when the last handler returns, so a person who closed the tab while
        # a long history streamed in was seen to leave only after all of it had gone nowhere
        # (daphne drops sends to a closed socket) or daphne killed the consumer, which then
        # never recorded that they left. Now their "disconnect" stops the task at once.
        self.catching_up = asyncio.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        """Send the history, then join the room's live events. A failure closes the socket
        (the client reconnects and tries again), as it did when this ran in the handler."""
        try:
            await self._join_live()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("room %s: joining failed", self.session_id)
            await self.close(code=1011)

    async def _join_live(self) -> None:
        async with self.delivering:
            await self._send_history(after=self._resume_from())
        await self._broadcast_presence()
        self.socket = services.Socket(
            channel_name=self.channel_name, user_id=self.user.pk, login_key=self.login_key
        )
        RoomsHere.here().join(self)
        self.tasks.append(asyncio.create_task(self._watch()))
        self.connected = True
        self.draining = asyncio.create_task(self._drain())  # what arrived meanwhile, in order

    async def disconnect(self, code: int) -> None:
        catching_up = getattr(self, "catching_up", None)
        if catching_up is not None:
            catching_up.cancel()
            await asyncio.wait([catching_up])  # it may be appending to self.tasks as it stops
        for task in getattr(self, "tasks", []):
            task.cancel()
        if getattr(self, "gap_task", None) is not None:
            self.gap_task.cancel()
        if getattr(self, "draining", None) is not None:
            self.draining.cancel()
        await RoomsHere.here().leave(self)
        if not hasattr(self, "participant_id"):
            return
        metrics.sockets_open.dec()
        await self.channel_layer.group_discard(person_group(self.user.pk), self.channel_name)
        if self.login_key:
            await self.channel_layer.group_discard(login_group(self.login_key), self.channel_name)
        await self.channel_layer.group_discard(
            facilitators_group(self.session_id), self.channel_name
        )
        await db(services.room_leave)(channel_name=self.channel_name, now=timezone.now())
        with contextlib.suppress(Exception):  # the room may be closing; presence heals anyway
            await self._broadcast_presence()

    # --- The room's events, from its relay in this process (``RoomsHere``) -----------------

    async def room_event(self, event: dict[str, Any]) -> None:
        """Handle one of the room's events now, or after those still waiting, in order: while
        the socket connects, or while it is busy sending from the database (a resync, a gap),
        the room's other sockets are not held up behind it."""
        if self.inbox is None and not self.delivering.locked():
            await self._handle(event)
            return
        if self.inbox is None:
            self.inbox = collections.deque()
        self.inbox.append(event)
        if self.draining is None and self.connected:  # while connecting: at its end
            self.draining = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        """Handle the waiting events in order, then take the next ones as they come."""
        try:
            while self.inbox:
                event = self.inbox.popleft()
                try:
                    await self._handle(event)
                except Exception:
                    logger.exception("room %s: %s failed", self.session_id, event.get("type"))
            self.inbox = None
        finally:
            self.draining = None

    async def _handle(self, event: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(event), None)
        if handler is None:
            logger.warning("room %s: no handler for %s", self.session_id, event.get("type"))
            return
        await handler(event)

    # --- Sending history -------------------------------------------------------------------

    def _resume_from(self) -> int:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            return max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            return 0

    def _state(self) -> dict[str, Any]:
        session = self.access.session
        room = Room.objects.get(session=session)
        floor = floor_state(room, timezone.now())
        return {
            "type": ServerEvent.ROOM_STATE,
            "session": session.pk,
            "status": session.status_at(timezone.now()),
            "opens_at": session.room_opens_at.isoformat(),
            "starts_at": session.starts_at.isoformat(),
            "ends_at": session.closes_at.isoformat(),
            "extended": session.extended_at is not None,
            "locked": room.locked_at is not None,
            "pinned": room.pinned_notice,
            "agreement": session.group.agreement,
            "last_position": room.last_position,
            "you": {
                "participant": self.participant_id,
                "name": self.access.name,
                "role": self.access.role,
                "muted": self.muted,
            },
            "hidden_authors": hidden_participants(session=session, owner=self.user),
            "hidden_positions": hidden_positions(session_id=session.pk),
            "floor_version": floor["floor_version"],
            "paused": floor["paused"],
            "hands": floor["hands"],
            "round": floor["round"],
        }

    async def _send_history(self, *, after: int, shared: bool = False) -> None:
        """Send every message after ``after`` from the database, in order. Hold
        ``self.delivering``. ``shared``: the read may be one another socket of this room
        started a moment earlier (for gaps: a message missing then is filled by the next)."""
        self.last_sent = after
        while True:
            if shared:
                page = await shared_read(
                    ("history", self.session_id, self.last_sent),
                    messages_after,
                    session_id=self.session_id,
                    position=self.last_sent,
                )
            else:
                page = await db(messages_after)(session_id=self.session_id, position=self.last_sent)
            for message in page:
                await self.send_json(message_event(message))
                self.last_sent = message.position
            if len(page) < HISTORY_PAGE:
                break
        await self.send_json({"type": ServerEvent.HISTORY_END, "position": self.last_sent})

    # --- From the client -------------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        """Answer frames that are not JSON text with an error instead of dropping the socket."""
        if text_data is None:
            await self._error(BAD_REQUEST, "Events are JSON text, not binary.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error(BAD_REQUEST, "That was not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self._error(BAD_REQUEST, "Events are JSON objects with a type.")
            return
        kind = content.get("type")
        if kind == "message.send":
            await self._post(content)
        elif kind == "resync":
            async with self.delivering:
                await self._send_history(after=self.last_sent_or(content.get("after")))
                await self._send_early()
        elif kind == "hide_author":
            await self._call(
                services.author_hide_for_me,
                participant_id=content.get("participant"),
                hidden=content.get("hidden", True),
            )
        elif kind in CONTROLS:
            service, fields = CONTROLS[kind]
            await self._call(service, **{name: content.get(field) for name, field in fields})
        elif kind in OWN_ACTIONS:
            await self._call(OWN_ACTIONS[kind])
        else:
            await self._error(BAD_REQUEST, "Unknown event type.")

    def last_sent_or(self, after: Any) -> int:
        return after if isinstance(after, int) and 0 <= after <= self.last_sent else self.last_sent

    async def _post(self, content: dict[str, Any]) -> None:
        started = time.monotonic()
        client_id = content.get("client_id")
        try:
            posted, sends = await db(services.message_post, hand_back_sends=True)(
                actor=self.user,
                session_id=self.session_id,
                body=content.get("body"),
                client_id=client_id,
                access=self.access,  # renewed at every re-check
            )
        except ServiceError as error:
            await self._error(error.code, error.message, client_id=client_id)
            if error.code == "closed":
                await self.room_closed({"reason": "ended"})
            elif error.code == "removed":
                await self.send_json({"type": ServerEvent.YOU_REMOVED})
                await self.close(code=CLOSE_REMOVED)
            elif error.code in ("not_allowed", "suspended"):
                await self.close(code=CLOSE_REVOKED)
            return
        # The sender hears the ack (and any private notice) before the room hears the message,
        # so its own copy never overtakes its ack; the room hears it even if this socket goes.
        try:
            await self.send_json(
                {
                    "type": ServerEvent.MESSAGE_ACK,
                    "client_id": str(posted.message.client_id),
                    "position": posted.message.position,
                    "duplicate": not posted.created,
                }
            )
            metrics.message_post_seconds.observe(time.monotonic() - started)
            for notice in posted.notices:
                await self.send_json(notice)
        finally:
            await asyncio.shield(publish(sends))

    async def _call(self, service: Any, **kwargs: Any) -> None:
        try:
            await db(service)(actor=self.user, session_id=self.session_id, **kwargs)
        except ServiceError as error:
            await self._error(error.code, error.message)
        except RoomRefusal as refusal:
            await self._error(refusal.code, refusal.message)

    async def _error(self, code: str, message: str, **extra: Any) -> None:
        await self.send_json({"type": ServerEvent.ERROR, "code": code, "message": message, **extra})

    # --- From the channel layer ------------------------------------------------------------

    async def message(self, event: dict[str, Any]) -> None:
        async with self.delivering:
            position = event["position"]
            if position <= self.last_sent:
                return  # already sent (from history, or a duplicate)
            if position > self.last_sent + 1:  # ahead of one not here yet: hold it
                self.early[position] = event
                if len(self.early) > EARLY_LIMIT:
                    await self._fill_gap()
                elif self.gap_task is None:
                    self.gap_task = asyncio.create_task(self._fill_gap_later())
                return
            await self.send(text_data=encoded(event))
            self.last_sent = position
            await self._send_early()

    async def _send_early(self) -> None:
        """Send the held messages that follow on now; drop those already sent. Hold
        ``self.delivering``."""
        while (event := self.early.pop(self.last_sent + 1, None)) is not None:
            await self.send(text_data=encoded(event))
            self.last_sent = event["position"]
        for position in [p for p in self.early if p <= self.last_sent]:
            del self.early[position]
        if not self.early and self.gap_task is not None:
            self.gap_task.cancel()  # the gap closed by itself
            self.gap_task = None
        elif self.early and self.gap_task is None:  # still a gap after a fill: wait again
            self.gap_task = asyncio.create_task(self._fill_gap_later())

    async def _fill_gap_later(self) -> None:
        await asyncio.sleep(GAP_WAIT_SECONDS)
        async with self.delivering:
            self.gap_task = None
            if self.early:
                await self._fill_gap()

    async def fill_from_database(self) -> None:
        """Send what the database holds past the last message sent: the relay's way of
        delivering while the channel layer is away (``chat.relay``)."""
        async with self.delivering:
            await self._send_history(after=self.last_sent, shared=True)
            await self._send_early()

    async def _fill_gap(self) -> None:
        """The missing message did not come live (the channel layer may drop messages): the
        database fills the gap. Hold ``self.delivering``."""
        await self._send_history(after=self.last_sent, shared=True)
        await self._send_early()

    async def message_hidden(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def participant_muted(self, event: dict[str, Any]) -> None:
        if event["participant"] == self.participant_id:
            self.muted = event["muted"]
        await self.send_json(event)

    async def participant_removed(self, event: dict[str, Any]) -> None:
        if event["participant"] == self.participant_id:
            await self.send_json({"type": ServerEvent.YOU_REMOVED})
            await self.close(code=CLOSE_REMOVED)
            return
        await self.send_json(event)

    async def room_locked(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def room_pinned(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def room_paused(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def hands_state(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def round_state(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def room_extended(self, event: dict[str, Any]) -> None:
        self.closes_at = datetime.fromisoformat(event["ends_at"])
        self.warned = False
        await self.send_json(event)

    async def room_closed(self, event: dict[str, Any]) -> None:
        await self.send_json(
            {"type": ServerEvent.ROOM_CLOSED, "reason": event.get("reason", "ended")}
        )
        await self.close(code=CLOSE_ENDED)

    async def person_recheck(self, event: dict[str, Any]) -> None:
        """Something about this person changed: re-check their right to be here now."""
        await self._recheck()

    async def person_revoked(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": ServerEvent.ROOM_REVOKED, "reason": event.get("reason", "")})
        await self.close(code=CLOSE_REVOKED)

    async def crisis_alert(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def report_alert(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def presence(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    async def _broadcast_presence(self) -> None:
        broadcast_presence_soon(self.session_id, self.channel_layer)

    # --- The clock -------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Close at the room's end even if no worker runs; warn the facilitator before it.
        (The periodic re-check of the right to be here is the room's: ``RoomsHere``.)"""
        try:
            while True:
                now = timezone.now()
                remaining = (self.closes_at - now).total_seconds()
                if remaining <= 0:
                    if not await self._recheck():  # the end may have moved (extension)
                        return
                    if (self.closes_at - timezone.now()).total_seconds() <= 0:
                        await self.room_closed({"reason": "ended"})
                        return
                    continue
                if (
                    self.access.role == "facilitator"
                    and not self.warned
                    and self.closes_at - now <= WARNING_BEFORE_END
                ):
                    self.warned = True
                    minutes = max(1, round(remaining / 60))
                    await self.send_json(
                        {"type": ServerEvent.ROOM_WARNING, "minutes_left": minutes}
                    )
                await asyncio.sleep(self._next_wake(now, remaining))
        except asyncio.CancelledError:
            pass

    def _next_wake(self, now: datetime, remaining: float) -> float:
        """Seconds until the room's end or the facilitator's warning (at most a minute: the
        end may move, and waking costs nothing)."""
        wake = min(60.0, remaining)
        if self.access.role == "facilitator" and not self.warned:
            until_warning = (self.closes_at - WARNING_BEFORE_END - now).total_seconds()
            wake = min(wake, max(until_warning, 0.05))
        return wake

    async def _recheck(self) -> bool:
        """Re-check this socket's right to be here now, alone (a push, or the room's end)."""
        verdicts = await db(services.room_recheck)(
            session_id=self.session_id, sockets=[self.socket], now=timezone.now()
        )
        return await self.recheck_done(verdicts[self.channel_name])

    async def recheck_done(self, verdict: RoomAccess | RoomRefusal) -> bool:
        """Act on a re-check: close the socket, saying why, or trust the renewed decision until
        the next one. Whether the socket stays."""
        if isinstance(verdict, RoomAccess):
            self.access = verdict  # what message_post trusts until the next re-check
            self.closes_at = verdict.session.closes_at
            return True
        if verdict.code == "closed":
            await self.room_closed({"reason": "ended"})
        elif verdict.code == "removed":
            await self.send_json({"type": ServerEvent.YOU_REMOVED})
            await self.close(code=CLOSE_REMOVED)
        else:
            await self.send_json({"type": ServerEvent.ROOM_REVOKED, "reason": verdict.code})
            await self.close(code=CLOSE_REVOKED)
        return False


# Facilitator controls: client event -> (service, ((service argument, event field), ...)).
CONTROLS: dict[str, tuple[Any, tuple[tuple[str, str], ...]]] = {
    "control.mute": (
        lambda **kw: services.participant_set_muted(muted=True, **kw),
        (("participant_id", "participant"),),
    ),
    "control.unmute": (
        lambda **kw: services.participant_set_muted(muted=False, **kw),
        (("participant_id", "participant"),),
    ),
    "control.remove": (services.participant_remove, (("participant_id", "participant"),)),
    "control.lock": (lambda **kw: services.room_set_locked(locked=True, **kw), ()),
    "control.unlock": (lambda **kw: services.room_set_locked(locked=False, **kw), ()),
    "control.hide": (services.message_hide, (("position", "position"),)),
    "control.pin": (services.room_pin, (("text", "text"),)),
    "control.end": (services.room_end, ()),
    "control.extend": (services.room_extend, (("minutes", "minutes"),)),
    "control.pause": (services.room_pause, (("minutes", "minutes"), ("note", "note"))),
    "control.resume": (services.room_resume, ()),
    "control.hand_lower": (services.hands_lower, (("participant_id", "participant"),)),
    "control.hands_lower_all": (lambda **kw: services.hands_lower(everyone=True, **kw), ()),
    "control.floor_give": (services.floor_give, (("participant_id", "participant"),)),
    "control.floor_open": (services.floor_open, ()),
    "control.round_start": (
        services.round_start,
        (("prompt", "prompt"), ("take_part", "take_part")),
    ),
    "control.round_order": (services.round_reorder, (("order", "order"),)),
    "control.round_skip": (services.round_skip, ()),
    "control.round_end": (services.round_end, ()),
}

# A member's own actions on the floor: client event -> service (the actor acts for themself).
OWN_ACTIONS: dict[str, Any] = {
    "hand.raise": services.hand_raise,
    "hand.lower": services.hand_lower,
    "round.pass": services.round_pass,
    "round.done": services.round_done,
}
