"""The floor through the room's sockets (the real ASGI app): controls, own actions, the state
at join, and refusals that keep the words."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from chat.models import Message, RoundTurn
from tests.chat.conftest import connect, receive_until

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


async def joined(user, session):
    communicator, ok = await connect(user, session)
    assert ok, "the handshake was refused"
    events = await receive_until(communicator, "history.end")
    return communicator, events[0]


async def next_of(communicator, kind, timeout=3):
    return (await receive_until(communicator, kind, timeout=timeout))[-1]


async def test_a_pause_reaches_members_and_refuses_their_send_with_the_client_id(room, therapist):
    session = room["session"]
    host, _ = await joined(therapist, session)
    alice, _ = await joined(room["alice"], session)
    await host.send_json_to({"type": "control.pause", "minutes": 2, "note": "A breath."})
    paused = await next_of(alice, "room.paused")
    assert paused["paused"]["note"] == "A breath." and paused["paused"]["until"]
    client_id = str(uuid.uuid4())
    await alice.send_json_to({"type": "message.send", "client_id": client_id, "body": "Hi"})
    error = await next_of(alice, "error")
    assert (error["code"], error["client_id"]) == ("paused", client_id)
    await host.send_json_to({"type": "control.resume"})
    assert (await next_of(alice, "room.paused"))["paused"] is None
    await alice.send_json_to({"type": "message.send", "client_id": client_id, "body": "Hi"})
    assert (await next_of(alice, "message.ack"))["duplicate"] is False
    for communicator in (host, alice):
        await communicator.disconnect()


async def test_a_member_cannot_use_the_facilitators_floor_controls(room):
    alice, _ = await joined(room["alice"], room["session"])
    for event in (
        {"type": "control.pause"},
        {"type": "control.round_start", "prompt": "Check-in"},
        {"type": "control.floor_give", "participant": None},
    ):
        await alice.send_json_to(event)
        assert (await next_of(alice, "error"))["code"] == "forbidden"
    await alice.disconnect()


async def test_hands_and_a_round_are_in_the_state_of_a_socket_that_joins_later(room, therapist):
    session = room["session"]
    host, _ = await joined(therapist, session)
    alice, alice_state = await joined(room["alice"], session)
    bob, bob_state = await joined(room["bob"], session)
    await bob.send_json_to({"type": "hand.raise"})
    hands = await next_of(host, "hands.state")
    assert [h["participant"] for h in hands["queue"]] == [bob_state["you"]["participant"]]
    await host.send_json_to({"type": "control.round_start", "prompt": "Check-in"})
    started = await next_of(alice, "round.state")
    assert started["version"] > hands["version"]
    order = [turn["participant"] for turn in started["round"]["turns"]]
    assert sorted(order) == sorted(
        [alice_state["you"]["participant"], bob_state["you"]["participant"]]
    )
    await alice.disconnect()
    again, state = await joined(room["alice"], session)
    assert state["round"]["turns"] == started["round"]["turns"]
    assert state["round"]["current"] == order[0]
    assert [h["participant"] for h in state["hands"]["queue"]] == [bob_state["you"]["participant"]]
    assert state["floor_version"] == started["version"]
    for communicator in (host, again, bob):
        await communicator.disconnect()


async def test_a_round_moves_on_as_people_speak_and_pass_and_ends_for_everyone(room, therapist):
    session = room["session"]
    host, _ = await joined(therapist, session)
    sockets = {}
    for who in ("alice", "bob"):
        communicator, state = await joined(room[who], session)
        sockets[state["you"]["participant"]] = communicator
    await host.send_json_to({"type": "control.round_start", "prompt": "Check-in"})
    order = [t["participant"] for t in (await next_of(host, "round.state"))["round"]["turns"]]
    first, second = sockets[order[0]], sockets[order[1]]
    for communicator in sockets.values():
        await next_of(communicator, "round.state")

    client_id = str(uuid.uuid4())
    await second.send_json_to({"type": "message.send", "client_id": client_id, "body": "Me?"})
    refused = await next_of(second, "error")
    assert refused["code"] == "not_your_turn" and "waits in the box" in refused["message"]

    await first.send_json_to({"type": "message.send", "client_id": str(uuid.uuid4()), "body": "Hi"})
    moved = await next_of(second, "round.state")
    assert moved["round"]["current"] == order[1]
    await second.send_json_to({"type": "round.pass"})
    ended = await next_of(host, "round.state")
    while ended["round"] is not None:
        ended = await next_of(host, "round.state")
    states = await sync_to_async(
        lambda: dict(RoundTurn.objects.values_list("participant_id", "state"))
    )()
    assert states == {order[0]: "spoken", order[1]: "passed"}
    await second.send_json_to({"type": "message.send", "client_id": client_id, "body": "Me?"})
    assert (await next_of(second, "message.ack"))["duplicate"] is False
    assert await sync_to_async(Message.objects.count)() == 2
    for communicator in (host, *sockets.values()):
        await communicator.disconnect()
