"""One subscription per room per process relays the room's events to its sockets here."""

from __future__ import annotations

import asyncio

import pytest

from chat import relay
from tests.chat.test_room import joined, new_id, next_of

MESSAGE_FIELDS = {
    "type",
    "position",
    "author",
    "name",
    "facilitator",
    "body",
    "hidden",
    "before_start",
    "created_at",
}

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def test_a_busy_socket_holds_up_nobody_and_still_gets_everything_in_order(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    bob, _, _ = await joined(room["bob"], room["session"])
    here = relay.RoomsHere.here().rooms[room["session"].pk]
    assert len(here.listeners) == 2  # both sockets, one room subscription
    busy = next(c for c in here.listeners if c.user.pk == room["alice"].pk)

    await busy.delivering.acquire()  # as while it sends a resync from the database
    for body in ("one", "two"):
        await bob.send_json_to({"type": "message.send", "client_id": new_id(), "body": body})
    acks, live = [], []  # a message may come back before or after its ack
    while len(acks) < 2 or len(live) < 2:
        event = await bob.receive_json_from(timeout=3)
        {"message.ack": acks, "message": live}.get(event["type"], []).append(event)
    first, second = acks
    assert [event["position"] for event in live] == [first["position"], second["position"]]
    assert set(live[0]) == MESSAGE_FIELDS  # encoded once for the room here, nothing added
    meanwhile = []  # anything sent before the lock was taken (a presence update, say)
    while not await alice.receive_nothing(timeout=0.3):
        meanwhile.append((await alice.receive_json_from())["type"])
    assert "message" not in meanwhile  # waiting, not lost

    busy.delivering.release()
    positions = [(await next_of(alice, "message"))["position"] for _ in range(2)]
    assert positions == [first["position"], second["position"]]
    await alice.disconnect()
    await bob.disconnect()
    assert relay.RoomsHere.here().rooms == {}


async def test_a_room_left_while_it_was_opening_leaves_no_task_behind():
    here = relay.RoomsHere.here()

    class Socket:
        session_id = 987654  # no such session: only the process's bookkeeping is exercised

    socket = Socket()
    listening = asyncio.ensure_future(here.listen(socket))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the room's subscription is being opened
    room = here.rooms[Socket.session_id]
    await here.leave(socket)  # type: ignore[arg-type]
    await listening
    assert Socket.session_id not in here.rooms
    # the relay, the re-check and the outage fill, created as the opening finished
    assert len(room.tasks) == 3
    await asyncio.wait_for(asyncio.gather(*room.tasks, return_exceptions=True), timeout=2)
    assert all(task.cancelled() for task in room.tasks)
