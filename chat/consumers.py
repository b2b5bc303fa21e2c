"""The WebSocket of one session's room. Protocol: docs/protocol.md.

The consumer authenticates from the scope, asks ``services.room_recheck`` (the login policy,
then ``room_access``) whether this login may be here now, at the handshake and at every
re-check, calls services in threads, and forwards events. It delivers messages to its client in
position order with no gaps and no duplicates: history from the database first, then live
events, and a catch-up from the database whenever a live event skips a position.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import json
import logging
import random
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts.exceptions import ServiceError
from chat import services
from chat.broadcast import (
    facilitators_group,
    login_group,
    person_group,
    room_group,
    sends_collected,
)
from chat.models import Room
from chat.selectors import (
    HISTORY_PAGE,
    RoomAccess,
    RoomRefusal,
    hidden_participants,
    hidden_positions,
    message_event,
    messages_after,
    present,
)

logger = logging.getLogger(__name__)

# The database work of every socket runs in a small pool of threads rather than in Channels'
# one thread per process: with one thread, every socket of a process queued behind every other
# socket's queries, and a sender at 50 messages a second waited seconds for its ack while the
# CPU idled. Each call is self-contained (its own transaction, no state kept in the thread), so
# any thread may run it; a socket still makes one call at a time, in order.
DB_THREADS = settings.CHAT_DB_THREADS
_db_pool = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="room-db")
# Each of those threads keeps the connection it borrowed from the connection pool between
# calls, and gives it back after this long: borrowing for every call would cost each call the
# pool's check (a round trip: the health check this module exists to avoid), and giving it
# back from time to time lets the pool retire old connections (its ``max_lifetime``).
DB_CONNECTION_KEEP_SECONDS = 60
_publishing: set[asyncio.Task[None]] = set()  # broadcasts of calls whose caller went away


def db(func: Callable[..., Any], *, hand_back_sends: bool = False) -> Callable[..., Awaitable[Any]]:
    """``func`` made awaitable, run in the room's database thread pool.

    Leaner than Channels' ``database_sync_to_async``, which the room's traffic made the
    biggest cost after the sockets themselves (measured with py-spy): no context copied in and
    out, no per-call health check (``_connections_tidy``), and what ``func`` broadcasts after
    its commit is published from this event loop once it returns, instead of the thread
    blocking on the loop to publish each one (``async_to_sync``). With ``hand_back_sends``
    the call returns ``(result, sends)`` and the caller publishes them (``_publish``) when it
    is ready, as ``_post`` does after the ack.
    """

    async def call(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(_db_pool, functools.partial(_in_pool, func, args, kwargs))
        try:
            ok, value, sends = await asyncio.shield(work)
        except asyncio.CancelledError:
            # The caller went away (its socket closed); the work goes on, and what it commits
            # is still broadcast to everyone else.
            work.add_done_callback(_publish_when_done)
            raise
        if not ok:
            await _publish(sends)
            raise value
        if hand_back_sends:
            return value, sends
        await _publish(sends)
        return value

    return call


def _in_pool(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[bool, Any, list[tuple[str, dict[str, Any]]]]:
    _connections_tidy()
    with sends_collected() as sends:
        try:
            return True, func(*args, **kwargs), sends
        except Exception as error:  # raised again on the event loop, after the broadcasts
            return False, error, sends
        finally:
            _connections_tidy()


async def _publish(sends: list[tuple[str, dict[str, Any]]]) -> None:
    if sends:
        layer = get_channel_layer()
        for group, event in sends:
            await layer.group_send(group, event)


def _publish_when_done(work: asyncio.Future[Any]) -> None:
    if work.cancelled() or work.exception() is not None:
        return
    task = asyncio.get_running_loop().create_task(_publish(work.result()[2]))
    _publishing.add(task)
    task.add_done_callback(_publishing.discard)


def db_threads_release(seconds: float = 10) -> None:
    """Have every room database thread give its connection back to the pool now (a thread
    keeps one between calls): before a database is dropped, as the test suite's end does."""
    threads = _db_pool._max_workers
    everyone = threading.Barrier(threads, timeout=seconds)

    def release() -> None:
        connections.close_all()
        everyone.wait()  # each thread takes exactly one of these jobs

    for done in [_db_pool.submit(release) for _ in range(threads)]:
        done.result(timeout=seconds)


def _connections_tidy() -> None:
    """What ``close_old_connections`` does around each request, without its health check.

    That check (the pool's, when it lends a connection) is a round trip before the first query
    of every call: one more for each message. Here the thread keeps its connection, and gives
    it back to the pool (the next query borrows one again) when an error has made it doubtful,
    when it was left outside autocommit, or ``DB_CONNECTION_KEEP_SECONDS`` after it was
    borrowed. A connection the server dropped fails one call, which marks it; the pool
    discards it, and the thread's next call starts afresh.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        # close_at is when Django itself would give the connection back: when it was
        # borrowed, since CONN_MAX_AGE is 0 with a pool.
        if (
            connection.errors_occurred
            or connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]
            or (
                connection.close_at is not None
                and time.monotonic() >= connection.close_at + DB_CONNECTION_KEEP_SECONDS
            )
        ):
            connection.close()


# Joins and leaves within this long share one presence broadcast: one per join, while a room
# of 50 filled up, sent 50 x 50 lists of people, and made connecting everyone slow.
PRESENCE_COALESCE_SECONDS = 0.5
_presence_due: set[tuple[int, int]] = set()  # (event loop, session) with a broadcast scheduled
_presence_tasks: set[asyncio.Task[None]] = set()


def _broadcast_presence_soon(session_id: int, channel_layer: Any) -> None:
    """Tell the room who is here, shortly, once for every join and leave until then."""
    loop = asyncio.get_running_loop()
    key = (id(loop), session_id)
    if key in _presence_due:
        return
    _presence_due.add(key)

    async def broadcast() -> None:
        try:
            await asyncio.sleep(PRESENCE_COALESCE_SECONDS)
        finally:
            _presence_due.discard(key)  # a change from here on schedules the next broadcast
        people = await db(present)(session_id=session_id, now=timezone.now())
        await channel_layer.group_send(
            room_group(session_id), {"type": ServerEvent.PRESENCE, "people": people}
        )

    task = loop.create_task(broadcast())
    _presence_tasks.add(task)  # keep a reference until it is done
    task.add_done_callback(_presence_tasks.discard)


# Reads that every socket of a room in this process makes at about the same time (filling the
# same gap) share one query: fifty sockets filling a gap
# each with a query of its own, when the server was already behind, put it further behind.
_shared_reads: dict[tuple[Any, ...], asyncio.Future[Any]] = {}


async def shared_read(key: tuple[Any, ...], func: Callable[..., Any], **kwargs: Any) -> Any:
    """``db(func)(**kwargs)``, or the result of the same read already under way in this
    process (``key`` names it). One socket going away does not cancel the others' read."""
    loop = asyncio.get_running_loop()
    key = (id(loop), *key)
    read = _shared_reads.get(key)
    if read is None:
        read = _shared_reads[key] = asyncio.ensure_future(db(func)(**kwargs))
        read.add_done_callback(lambda done: _shared_reads.pop(key, None))
    return await asyncio.shield(read)


def db_pool_close_connections() -> None:
    """Give back the database connections the room's threads keep (to the connection pool,
    which closes them when it is closed: so that, for example, a test database can be
    dropped). Blocks until every thread has done it."""
    threads = len(_db_pool._threads)
    if not threads:
        return
    everyone = threading.Barrier(threads)

    def close() -> None:
        connections.close_all()
        everyone.wait(timeout=10)  # holds this thread, so the next task lands on another

    for future in [_db_pool.submit(close) for _ in range(threads)]:
        future.result()


# Revocation is pushed: a change to the person, their enrollment or their rights sends
# ``person.recheck`` to their sockets (chat.receivers), which re-check at once, and logouts
# close a login's sockets directly. The periodic re-check is only the backstop for a push the
# channel layer dropped; it also keeps attendance and the login fresh (see PRESENCE_TIMEOUT)
# and sends the room's presence again (self-healing when another process died). It is made
# for all the sockets of a room in a process together (``_RoomsHere``), in a few queries: one
# re-check per socket, spread out, cost a thousand idle sockets about 130 queries a second.
RECHECK_SECONDS = 60
# A live message that skips a position is held this long for the one it skipped before the
# database fills the gap. Messages committed in order by two server processes (or two threads
# of one) can cross on their way through Redis by a few milliseconds; filling each such gap at
# once cost every socket of the room a query, fifty queries for one message crossing another.
GAP_WAIT_SECONDS = 0.2
EARLY_LIMIT = 200  # held messages past this: fill from the database at once
WARNING_BEFORE_END = timedelta(minutes=5)

# Close codes (4000-4999 are the application's): see docs/protocol.md.
CLOSE_ENDED = 4000
CLOSE_REVOKED = 4001
CLOSE_REMOVED = 4003


class ServerEvent(StrEnum):
    """The type of every event a client can receive; docs/protocol.md describes each one
    (tests/chat/test_protocol_doc.py holds the two together).

    The consumer builds some itself; the others are sent to the channel layer after commit by
    chat.services or moderation, and forwarded by the handler of the same name.
    """

    ROOM_STATE = "room.state"
    MESSAGE = "message"
    HISTORY_END = "history.end"
    MESSAGE_ACK = "message.ack"
    MESSAGE_HIDDEN = "message.hidden"
    PARTICIPANT_MUTED = "participant.muted"
    PARTICIPANT_REMOVED = "participant.removed"
    PRESENCE = "presence"
    ROOM_LOCKED = "room.locked"
    ROOM_PINNED = "room.pinned"
    ROOM_EXTENDED = "room.extended"
    ROOM_WARNING = "room.warning"
    ROOM_CLOSED = "room.closed"
    ROOM_REVOKED = "room.revoked"
    YOU_REMOVED = "you.removed"
    CRISIS_SUPPORT = "crisis.support"  # a message check's private note to the sender
    CRISIS_ALERT = "crisis.alert"
    REPORT_ALERT = "report.alert"
    ERROR = "error"


# Every ``error`` code a client can receive: the consumer's own (BAD_REQUEST), room_access's
# refusals, and the ServiceError codes of the services it calls (chat.services, and the groups
# services behind control.end and control.extend).
BAD_REQUEST = "bad_request"
ERROR_CODES = frozenset(
    {
        BAD_REQUEST,
        # message.send
        "invalid_client_id",
        "invalid_body",
        "too_long",
        "rate_limited",
        "muted",
        "not_joined",
        # room_access
        "not_allowed",
        "suspended",
        "cancelled",
        "too_early",
        "closed",
        "removed",
        "locked",
        # hide_author and the controls
        "no_such_person",
        "facilitator",
        "forbidden",
        "no_such_message",
        "extension_range",
        "extended",
        "not_open",
        "overlap",
        "inactive",
    }
)


_TEXT = "_text"  # where a live message event keeps its encoding (never sent as a field)


def _encoded(event: dict[str, Any]) -> str:
    """A live message event as JSON text, encoded once for all this process's sockets in the
    room (the relay hands each of them the same event)."""
    text = event.get(_TEXT)
    if text is None:
        text = event[_TEXT] = json.dumps(event)  # encoded before the key is added
    return text


class _Room:
    """One room's sockets in this process: all that receive its events, and of those the ones
    that have joined (re-checked together)."""

    def __init__(self) -> None:
        self.listeners: set[RoomConsumer] = set()
        self.joined: set[RoomConsumer] = set()
        self.channel = ""
        self.opening: asyncio.Future[None] | None = None
        self.tasks: list[asyncio.Task[None]] = []


class _RoomsHere:
    """The rooms open in this process (one event loop).

    Each room has one subscription to its channel-layer group here, and one task that hands
    every event to each of the room's sockets in turn: a socket of its own in the group, woken
    for every event, cost the event loop a task wake-up, an ``asyncio.wait`` and a new task
    per socket per message (Channels' dispatch), about a sixth of a server's time at 100
    messages a second into rooms of 50 (py-spy). And a task per room re-checks the room's
    sockets together every RECHECK_SECONDS or so.
    """

    def __init__(self) -> None:
        self.rooms: dict[int, _Room] = {}

    @classmethod
    def here(cls) -> _RoomsHere:
        loop = asyncio.get_running_loop()
        rooms = _rooms_by_loop.get(loop)
        if rooms is None:
            rooms = _rooms_by_loop[loop] = cls()
        return rooms

    async def listen(self, consumer: RoomConsumer) -> None:
        """From now on ``consumer`` receives the room's events (``room_event``)."""
        room = self.rooms.get(consumer.session_id)
        if room is None:
            room = self.rooms[consumer.session_id] = _Room()
            room.opening = asyncio.ensure_future(self._open(consumer.session_id, room))
        room.listeners.add(consumer)
        assert room.opening is not None
        await asyncio.shield(room.opening)

    async def _open(self, session_id: int, room: _Room) -> None:
        layer = get_channel_layer()
        room.channel = await layer.new_channel()
        await layer.group_add(room_group(session_id), room.channel)
        room.tasks = [
            asyncio.create_task(self._relay(session_id, room)),
            asyncio.create_task(self._watch(session_id, room)),
        ]

    def join(self, consumer: RoomConsumer) -> None:
        """``consumer`` is in: re-checked with the others from now on."""
        self.rooms[consumer.session_id].joined.add(consumer)

    async def leave(self, consumer: RoomConsumer) -> None:
        room = self.rooms.get(consumer.session_id)
        if room is None or consumer not in room.listeners:
            return
        room.listeners.discard(consumer)
        room.joined.discard(consumer)
        if room.listeners:
            return
        del self.rooms[consumer.session_id]  # the next socket to come opens the room afresh
        with contextlib.suppress(Exception):
            assert room.opening is not None
            await asyncio.shield(room.opening)  # its tasks exist once it has opened
        for task in room.tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await get_channel_layer().group_discard(room_group(consumer.session_id), room.channel)

    async def _relay(self, session_id: int, room: _Room) -> None:
        layer = get_channel_layer()
        while True:
            event = await layer.receive(room.channel)
            for consumer in list(room.listeners):
                try:
                    await consumer.room_event(event)
                except Exception:  # one socket's failure must not stop the room for the rest
                    logger.exception(
                        "room %s: %s to %s failed", session_id, event.get("type"), consumer
                    )

    async def _watch(self, session_id: int, room: _Room) -> None:
        while True:
            # Rooms that opened together re-check apart, and each at its own moment every time.
            await asyncio.sleep(RECHECK_SECONDS * random.uniform(0.75, 1.25))
            try:
                await self.recheck(session_id, room)
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again; one failure must not end the watch
                logger.exception("room %s: the periodic re-check failed", session_id)

    async def recheck(self, session_id: int, room: _Room) -> None:
        """Re-check every socket of the room here at once, then send them who is present."""
        sockets = list(room.joined)
        if not sockets:
            return
        verdicts = await db(services.room_recheck)(
            session_id=session_id,
            sockets=[consumer.socket for consumer in sockets],
            now=timezone.now(),
        )
        staying = []
        for consumer in sockets:
            if consumer in room.joined and await consumer.recheck_done(
                verdicts[consumer.channel_name]
            ):
                staying.append(consumer)
        if not staying:
            return
        people = await db(present)(session_id=session_id, now=timezone.now())
        event = {"type": ServerEvent.PRESENCE, "people": people}
        for consumer in staying:
            if consumer in room.joined:
                await consumer.send_json(event)


_rooms_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _RoomsHere] = (
    weakref.WeakKeyDictionary()
)


class RoomConsumer(AsyncJsonWebsocketConsumer):
    session_id: int
    participant_id: int
    last_sent: int

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run the handler for ``message``, without Channels' close_old_connections first.

        Channels runs that before every event, in the process's one sync thread: a thread hop
        per event, 2,500 a second for a room of 50 at 50 messages a second, and a tenth of the
        server's time. This consumer reaches the database only through ``db()``, whose calls
        look after their thread's connections themselves (``_connections_tidy``).
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

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
        await _RoomsHere.here().listen(self)
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
        self.access = dataclasses.replace(self.access, participant=participant)
        self.muted = participant.muted_at is not None
        self.closes_at = self.access.session.closes_at
        self.warned = False
        await self.accept()
        await self.send_json(await db(self._state)())
        async with self.delivering:
            await self._send_history(after=self._resume_from())
        await self._broadcast_presence()
        self.socket = services.Socket(
            channel_name=self.channel_name, user_id=self.user.pk, login_key=self.login_key
        )
        _RoomsHere.here().join(self)
        self.tasks.append(asyncio.create_task(self._watch()))
        self.connected = True
        self.draining = asyncio.create_task(self._drain())  # what arrived meanwhile, in order

    async def disconnect(self, code: int) -> None:
        for task in self.tasks:
            task.cancel()
        if getattr(self, "gap_task", None) is not None:
            self.gap_task.cancel()
        if getattr(self, "draining", None) is not None:
            self.draining.cancel()
        await _RoomsHere.here().leave(self)
        if not hasattr(self, "participant_id"):
            return
        await self.channel_layer.group_discard(person_group(self.user.pk), self.channel_name)
        if self.login_key:
            await self.channel_layer.group_discard(login_group(self.login_key), self.channel_name)
        await self.channel_layer.group_discard(
            facilitators_group(self.session_id), self.channel_name
        )
        await db(services.room_leave)(channel_name=self.channel_name, now=timezone.now())
        with contextlib.suppress(Exception):  # the room may be closing; presence heals anyway
            await self._broadcast_presence()

    # --- The room's events, from its relay in this process (``_RoomsHere``) ----------------

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
            service, arg = CONTROLS[kind]
            await self._call(service, **({arg[0]: content.get(arg[1])} if arg else {}))
        else:
            await self._error(BAD_REQUEST, "Unknown event type.")

    def last_sent_or(self, after: Any) -> int:
        return after if isinstance(after, int) and 0 <= after <= self.last_sent else self.last_sent

    async def _post(self, content: dict[str, Any]) -> None:
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
            for notice in posted.notices:
                await self.send_json(notice)
        finally:
            await asyncio.shield(_publish(sends))

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
            await self.send(text_data=_encoded(event))
            self.last_sent = position
            await self._send_early()

    async def _send_early(self) -> None:
        """Send the held messages that follow on now; drop those already sent. Hold
        ``self.delivering``."""
        while (event := self.early.pop(self.last_sent + 1, None)) is not None:
            await self.send(text_data=_encoded(event))
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
        _broadcast_presence_soon(self.session_id, self.channel_layer)

    # --- The clock -------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Close at the room's end even if no worker runs; warn the facilitator before it.
        (The periodic re-check of the right to be here is the room's: ``_RoomsHere``.)"""
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


# Facilitator controls: client event -> (service, (service argument, event field)).
CONTROLS: dict[str, tuple[Any, tuple[str, str] | None]] = {
    "control.mute": (
        lambda **kw: services.participant_set_muted(muted=True, **kw),
        ("participant_id", "participant"),
    ),
    "control.unmute": (
        lambda **kw: services.participant_set_muted(muted=False, **kw),
        ("participant_id", "participant"),
    ),
    "control.remove": (services.participant_remove, ("participant_id", "participant")),
    "control.lock": (lambda **kw: services.room_set_locked(locked=True, **kw), None),
    "control.unlock": (lambda **kw: services.room_set_locked(locked=False, **kw), None),
    "control.hide": (services.message_hide, ("position", "position")),
    "control.pin": (services.room_pin, ("text", "text")),
    "control.end": (services.room_end, None),
    "control.extend": (services.room_extend, ("minutes", "minutes")),
}
