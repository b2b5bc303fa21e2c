"""The room's relay in this process: one channel-layer membership and one task per room, which
hand each event to the room's sockets here, and one task per room that re-checks them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from typing import TYPE_CHECKING

from channels.layers import get_channel_layer
from django.utils import timezone

from chat import services
from chat.broadcast import room_group
from chat.db_threads import db
from chat.layer import OUTAGE
from chat.protocol import ServerEvent
from chat.selectors import present, room_last_position

if TYPE_CHECKING:
    from chat.consumers import RoomConsumer

logger = logging.getLogger(__name__)

# Revocation is pushed: a change to the person, their enrollment or their rights sends
# ``person.recheck`` to their sockets (chat.receivers), which re-check at once, and logouts
# close a login's sockets directly. The periodic re-check is only the backstop for a push the
# channel layer dropped; it also keeps attendance and the login fresh (see PRESENCE_TIMEOUT)
# and sends the room's presence again (self-healing when another process died). It is made
# for all the sockets of a room in a process together (``RoomsHere``), in a few queries: one
# re-check per socket, spread out, cost a thousand idle sockets about 130 queries a second.
RECHECK_SECONDS = 60
# While the channel layer's Redis is away (chat.layer.OUTAGE), each room here reads its new
# messages from the database this often and gives them to its sockets; once more after it is
# back, for what was published into the outage and lost.
OUTAGE_FILL_SECONDS = 1.0


class _Room:
    """One room's sockets in this process: all that receive its events, and of those the ones
    that have joined (re-checked together)."""

    def __init__(self) -> None:
        self.listeners: set[RoomConsumer] = set()
        self.joined: set[RoomConsumer] = set()
        self.channel = ""
        self.opening: asyncio.Future[None] | None = None
        self.tasks: list[asyncio.Task[None]] = []


class RoomsHere:
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
    def here(cls) -> RoomsHere:
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
            asyncio.create_task(self._fill_while_unreachable(session_id, room)),
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

    async def _fill_while_unreachable(self, session_id: int, room: _Room) -> None:
        """Deliver from the database while the channel layer cannot (one small query a
        second per room, only during an outage), and once more when it is back; then send
        the room's presence again, which the outage may have kept from its sockets."""
        behind = False
        while True:
            await asyncio.sleep(OUTAGE_FILL_SECONDS)
            if OUTAGE.down:
                behind = True
            elif not behind:
                continue
            else:
                behind = False  # the last fill, now that it is back
            try:
                last = await db(room_last_position)(session_id=session_id)
                for consumer in list(room.joined):
                    if consumer.last_sent < last:
                        await consumer.fill_from_database()
                if not behind:
                    await self.recheck(session_id, room)
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again
                logger.exception("room %s: delivering from the database failed", session_id)

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


_rooms_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RoomsHere] = (
    weakref.WeakKeyDictionary()
)
