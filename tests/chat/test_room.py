"""The live room through the real ASGI application (Origin check, session auth, consumer)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from chat import consumers, presence, protocol, relay, shared_reads
from chat.broadcast import room_group
from chat.models import Attendance, Message, Participant, Room
from chat.selectors import message_event
from chat.services import participant_remove
from groups.models import GroupSession
from groups.services import enrollment_remove
from moderation.models import AuditAction, AuditEvent
from tests.chat.conftest import connect, receive_until

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def new_id() -> str:
    return str(uuid.uuid4())


async def joined(user, session, **kwargs):
    """Connect and read up to the end of history; returns (communicator, state, history)."""
    communicator, ok = await connect(user, session, **kwargs)
    assert ok, "the handshake was refused"
    events = await receive_until(communicator, "history.end")
    assert events[0]["type"] == "room.state"
    return communicator, events[0], [e for e in events if e["type"] == "message"]


async def send(communicator, body, client_id=None):
    client_id = client_id or new_id()
    await communicator.send_json_to({"type": "message.send", "client_id": client_id, "body": body})
    events = await receive_until(communicator, "message.ack")
    return events[-1]


async def next_of(communicator, kind, timeout=3):
    return (await receive_until(communicator, kind, timeout=timeout))[-1]


# --- Who may enter, and when ------------------------------------------------------------------


async def test_the_outsider_is_refused_at_the_handshake_and_sent_nothing(room, outsider):
    communicator, ok = await connect(outsider, room["session"])
    assert not ok
    assert await communicator.receive_nothing(timeout=0.2)


async def test_an_anonymous_visitor_is_refused(room):
    _, ok = await connect(None, room["session"])
    assert not ok


@pytest.mark.parametrize("origin", [b"https://evil.example", None])
async def test_a_socket_from_a_foreign_or_missing_origin_is_refused(room, origin):
    _, ok = await connect(room["alice"], room["session"], origin=origin)
    assert not ok


async def test_nobody_enters_before_the_room_opens(room):
    session = room["session"]
    await sync_to_async(GroupSession.objects.filter(pk=session.pk).update)(
        starts_at=timezone.now() + timedelta(minutes=30),
        ends_at=timezone.now() + timedelta(minutes=90),
    )
    _, ok = await connect(room["alice"], session)
    assert not ok


async def test_the_waiting_room_opens_before_the_start_and_marks_messages(room):
    session = room["session"]
    await sync_to_async(GroupSession.objects.filter(pk=session.pk).update)(
        starts_at=timezone.now() + timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(minutes=65),
    )
    alice, state, _ = await joined(room["alice"], session)
    assert state["status"] == "open"
    await send(alice, "Hello, early here")
    message = await next_of(alice, "message")
    assert message["before_start"] is True
    await alice.disconnect()


async def test_nobody_enters_after_the_end(room):
    session = room["session"]
    await sync_to_async(GroupSession.objects.filter(pk=session.pk).update)(
        starts_at=timezone.now() - timedelta(minutes=70),
        ends_at=timezone.now() - timedelta(minutes=10),
    )
    _, ok = await connect(room["alice"], session)
    assert not ok


async def test_a_member_removed_from_the_group_is_refused_and_disconnected(
    room, therapist, monkeypatch
):
    monkeypatch.setattr(relay, "RECHECK_SECONDS", 60)  # only the push can close it in time
    alice, _, _ = await joined(room["alice"], room["session"])
    enrollment = await sync_to_async(room["group"].enrollments.get)(user=room["alice"])
    await sync_to_async(enrollment_remove)(actor=therapist, enrollment=enrollment, reason="Unkind")
    revoked = await next_of(alice, "room.revoked", timeout=3)
    assert revoked["reason"] == "not_allowed"
    assert (await alice.receive_output(timeout=2))["type"] == "websocket.close"
    _, ok = await connect(room["alice"], room["session"])
    assert not ok


# --- Messages ----------------------------------------------------------------------------------


async def test_a_message_is_stored_then_delivered_to_everyone_in_order(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    bob, _, _ = await joined(room["bob"], room["session"])
    ack = await send(alice, "  Hello everyone  ")
    assert ack["position"] == 1 and ack["duplicate"] is False
    for communicator in (alice, bob):
        message = await next_of(communicator, "message")
        assert (message["position"], message["body"]) == (1, "Hello everyone")
        assert message["name"] == (
            await sync_to_async(
                lambda: room["group"].enrollments.get(user=room["alice"]).pseudonym
            )()
        )
    stored = await sync_to_async(Message.objects.get)(position=1)
    assert stored.body == "Hello everyone"
    await alice.disconnect()
    await bob.disconnect()


async def test_resending_with_the_same_client_id_stores_nothing_new(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    client_id = new_id()
    first = await send(alice, "Once only", client_id)
    await alice.disconnect()
    alice, _, history = await joined(room["alice"], room["session"], after=0)
    again = await send(alice, "Once only", client_id)
    assert (again["position"], again["duplicate"]) == (first["position"], True)
    assert await sync_to_async(Message.objects.count)() == 1
    assert [m["position"] for m in history] == [1]
    await alice.disconnect()


async def test_a_reconnecting_client_gets_exactly_what_it_missed_while_others_kept_sending(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    bob, _, _ = await joined(room["bob"], room["session"])
    for n in range(3):
        await send(bob, f"before {n}")
    seen = [(await next_of(alice, "message"))["position"] for _ in range(3)]
    assert seen == [1, 2, 3]
    await alice.disconnect()  # mid-stream
    for n in range(4):
        await send(bob, f"while away {n}")
    alice, _, history = await joined(room["alice"], room["session"], after=3)
    assert [m["position"] for m in history] == [4, 5, 6, 7]
    await send(bob, "after return")
    live = await next_of(alice, "message")
    assert live["position"] == 8
    assert await messages_within(alice, seconds=0.3) == []  # nothing twice
    await alice.disconnect()
    await bob.disconnect()


async def messages_within(communicator, *, seconds: float) -> list[int]:
    """The positions of the messages that arrive within ``seconds`` (other events ignored)."""
    positions = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (left := deadline - asyncio.get_running_loop().time()) > 0:
        # receive_nothing, unlike a receive that times out, leaves the consumer running.
        if await communicator.receive_nothing(timeout=left):
            break
        event = await communicator.receive_json_from()
        if event["type"] == "message":
            positions.append(event["position"])
    return positions


async def test_a_client_dropping_again_and_again_while_another_sends_ends_with_every_message_once(
    room,
):
    """Bob sends without pause while Alice's connection drops and comes back five times, each
    time mid-stream with her resume point: over all her connections she receives 1..N, each
    exactly once and in order."""
    session = room["session"]
    bob, _, _ = await joined(room["bob"], session)
    churn_over = asyncio.Event()
    sent = 0

    async def keep_sending():
        nonlocal sent
        while not churn_over.is_set() or sent < 40:
            await send(bob, f"n{sent}")  # one after another, as fast as they are stored
            sent += 1

    received: list[int] = []  # every position Alice is sent, over all her connections
    sender = asyncio.create_task(keep_sending())
    try:
        for _ in range(5):
            alice, _, history = await joined(room["alice"], session, after=max(received, default=0))
            received += [m["position"] for m in history]
            live = 0
            while live < 3:  # then drop, with more already on the way
                event = await alice.receive_json_from(timeout=5)
                if event["type"] == "message":
                    received.append(event["position"])
                    live += 1
            await alice.disconnect()
    finally:
        churn_over.set()
        await asyncio.wait_for(sender, timeout=30)
    alice, _, history = await joined(room["alice"], session, after=max(received))
    received += [m["position"] for m in history]

    assert sent >= 40
    assert received == list(range(1, sent + 1))
    assert await sync_to_async(Message.objects.count)() == sent
    await alice.disconnect()
    await bob.disconnect()


async def test_a_message_the_channel_layer_dropped_is_filled_from_the_database(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    bob, _, _ = await joined(room["bob"], room["session"])

    def sneak_in():
        # Stored, but its broadcast is lost (as channels_redis does over capacity).
        room_row = Room.objects.get(session=room["session"])
        room_row.last_position += 1
        room_row.save(update_fields=["last_position"])
        author = Participant.objects.get(session=room["session"], user=room["bob"])
        Message.objects.create(
            session=room["session"], position=room_row.last_position, author=author, body="lost"
        )

    await sync_to_async(sneak_in)()
    await send(bob, "found")
    got = [await next_of(alice, "message"), await next_of(alice, "message")]
    assert [(m["position"], m["body"]) for m in got] == [(1, "lost"), (2, "found")]
    await alice.disconnect()
    await bob.disconnect()


async def test_messages_that_cross_on_the_way_are_put_in_order_without_the_database(room):
    """Two processes commit positions 1 and 2 in order, but 2's broadcast overtakes 1's: the
    socket holds 2 for the moment 1 needs to arrive, instead of asking the database."""
    alice, _, _ = await joined(room["alice"], room["session"])
    # The presence that follows a join, out of the way of the quiet asked for at the end.
    await next_of(alice, "presence")

    def store_quietly() -> list[dict]:
        author = Participant.objects.get(session=room["session"], user=room["alice"])
        room_row = Room.objects.get(session=room["session"])
        stored = []
        for body in ("first", "second"):
            room_row.last_position += 1
            stored.append(
                Message.objects.create(
                    session=room["session"],
                    position=room_row.last_position,
                    author=author,
                    body=body,
                )
            )
        room_row.save(update_fields=["last_position"])
        return [message_event(m) for m in stored]

    first, second = await sync_to_async(store_quietly)()
    layer = get_channel_layer()
    await layer.group_send(room_group(room["session"].pk), second)
    await asyncio.sleep(consumers.GAP_WAIT_SECONDS / 4)
    await layer.group_send(room_group(room["session"].pk), first)
    got = [await next_of(alice, "message"), await next_of(alice, "message")]
    assert [(m["position"], m["body"]) for m in got] == [(1, "first"), (2, "second")]
    # A catch-up from the database ends with history.end; none came.
    assert await alice.receive_nothing(timeout=consumers.GAP_WAIT_SECONDS * 2)
    await alice.disconnect()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("", "invalid_body"),
        ("   \n ", "invalid_body"),
        ("x" * 2001, "too_long"),
        (42, "invalid_body"),
    ],
)
async def test_bad_messages_get_a_clear_error(room, body, code):
    alice, _, _ = await joined(room["alice"], room["session"])
    client_id = new_id()
    await alice.send_json_to({"type": "message.send", "client_id": client_id, "body": body})
    error = await next_of(alice, "error")
    assert (error["code"], error["client_id"]) == (code, client_id)
    assert error["message"]
    assert await sync_to_async(Message.objects.count)() == 0
    await alice.disconnect()


async def test_a_message_of_exactly_2000_characters_is_fine(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    await send(alice, "y" * 2000)
    assert len((await next_of(alice, "message"))["body"]) == 2000
    await alice.disconnect()


async def test_a_burst_beyond_the_rate_limit_gets_an_error_not_silence(room, settings):
    settings.CHAT_RATE_LIMIT_BURST = 5
    alice, _, _ = await joined(room["alice"], room["session"])
    for n in range(5):
        await send(alice, f"quick {n}")
    await alice.send_json_to(
        {"type": "message.send", "client_id": new_id(), "body": "one too many"}
    )
    error = await next_of(alice, "error")
    assert error["code"] == "rate_limited"
    assert "wait a few seconds" in error["message"]
    assert await sync_to_async(Message.objects.count)() == 5
    await alice.disconnect()


async def test_nothing_is_accepted_after_the_end_even_with_a_socket_still_open(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    await sync_to_async(GroupSession.objects.filter(pk=room["session"].pk).update)(
        ends_at=timezone.now() - timedelta(seconds=1)
    )
    await alice.send_json_to({"type": "message.send", "client_id": new_id(), "body": "late"})
    error = await next_of(alice, "error")
    assert error["code"] == "closed"
    assert await sync_to_async(Message.objects.count)() == 0


XSS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "javascript:alert(1)",
    "<svg/onload=alert(1)>",
    "&lt;b&gt;already escaped&lt;/b&gt;",
]


async def test_xss_payloads_travel_as_inert_text_through_the_live_path(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    bob, _, _ = await joined(room["bob"], room["session"])
    for payload in XSS:
        await send(alice, payload)
        assert (await next_of(bob, "message"))[
            "body"
        ] == payload  # JSON text; room.js uses textContent
    await alice.disconnect()
    await bob.disconnect()


# --- Facilitator controls -----------------------------------------------------------------------


async def participant_of(user, session):
    return await sync_to_async(Participant.objects.get)(session=session, user=user)


async def test_the_facilitator_mutes_and_unmutes_a_member(room, therapist):
    host, state, _ = await joined(therapist, room["session"])
    assert state["you"]["role"] == "facilitator"
    alice, _, _ = await joined(room["alice"], room["session"])
    target = await participant_of(room["alice"], room["session"])
    await host.send_json_to({"type": "control.mute", "participant": target.pk})
    assert (await next_of(alice, "participant.muted"))["muted"] is True
    await alice.send_json_to({"type": "message.send", "client_id": new_id(), "body": "hello?"})
    assert (await next_of(alice, "error"))["code"] == "muted"
    await host.send_json_to({"type": "control.unmute", "participant": target.pk})
    assert (await next_of(alice, "participant.muted"))["muted"] is False
    await send(alice, "thank you")
    actions = await sync_to_async(
        lambda: list(
            AuditEvent.objects.filter(session_id=room["session"].pk, action__startswith="room.")
            .order_by("id")
            .values_list("action", flat=True)
        )
    )()
    assert actions == [AuditAction.ROOM_MEMBER_MUTED, AuditAction.ROOM_MEMBER_UNMUTED]
    await host.disconnect()
    await alice.disconnect()


async def test_a_removed_member_is_disconnected_and_cannot_come_back(room, therapist):
    host, _, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    target = await participant_of(room["alice"], room["session"])
    await host.send_json_to({"type": "control.remove", "participant": target.pk})
    await next_of(alice, "you.removed")
    assert (await alice.receive_output(timeout=2)) == {
        "type": "websocket.close",
        "code": protocol.CLOSE_REMOVED,
    }
    _, ok = await connect(room["alice"], room["session"])
    assert not ok
    await host.disconnect()


async def test_members_cannot_use_facilitator_controls(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    bob_participant = None
    bob, _, _ = await joined(room["bob"], room["session"])
    bob_participant = await participant_of(room["bob"], room["session"])
    for event in (
        {"type": "control.remove", "participant": bob_participant.pk},
        {"type": "control.lock"},
        {"type": "control.end"},
        {"type": "control.extend", "minutes": 5},
        {"type": "control.pin", "text": "mine"},
    ):
        await alice.send_json_to(event)
        assert (await next_of(alice, "error"))["code"] == "forbidden"
    assert not await sync_to_async(
        AuditEvent.objects.filter(session_id=room["session"].pk, action__startswith="room.").exists
    )()
    await alice.disconnect()
    await bob.disconnect()


async def test_locking_keeps_newcomers_out_but_lets_those_inside_reconnect(room, therapist):
    host, _, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    await host.send_json_to({"type": "control.lock"})
    assert (await next_of(alice, "room.locked"))["locked"] is True
    _, ok = await connect(room["bob"], room["session"])
    assert not ok
    await alice.disconnect()
    alice, _, _ = await joined(room["alice"], room["session"])
    await host.send_json_to({"type": "control.unlock"})
    await next_of(alice, "room.locked")
    bob, _, _ = await joined(room["bob"], room["session"])
    await host.disconnect()
    await alice.disconnect()
    await bob.disconnect()


async def test_a_hidden_message_is_removed_for_everyone_live_and_in_history(room, therapist):
    host, _, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    ack = await send(alice, "something hurtful")
    await host.send_json_to({"type": "control.hide", "position": ack["position"]})
    assert (await next_of(alice, "message.hidden"))["position"] == ack["position"]
    bob, _, history = await joined(room["bob"], room["session"])
    assert history[0]["hidden"] is True and history[0]["body"] == ""
    for c in (host, alice, bob):
        await c.disconnect()


async def test_the_pinned_notice_reaches_everyone(room, therapist):
    host, _, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    await host.send_json_to({"type": "control.pin", "text": "Please be gentle with each other."})
    assert (await next_of(alice, "room.pinned"))["text"] == "Please be gentle with each other."
    bob, state, _ = await joined(room["bob"], room["session"])
    assert state["pinned"] == "Please be gentle with each other."
    for c in (host, alice, bob):
        await c.disconnect()


async def test_ending_the_session_closes_every_socket(room, therapist):
    host, _, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    await host.send_json_to({"type": "control.end"})
    for c in (host, alice):
        assert (await next_of(c, "room.closed"))["reason"] == "ended"
        assert (await c.receive_output(timeout=2))["code"] == protocol.CLOSE_ENDED
    _, ok = await connect(room["alice"], room["session"])
    assert not ok
    assert (
        await sync_to_async(AuditEvent.objects.filter(action=AuditAction.SESSION_ENDED).count)()
        == 1
    )


async def test_the_facilitator_extends_once_by_up_to_fifteen_minutes(room, therapist):
    host, state, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    await host.send_json_to({"type": "control.extend", "minutes": 20})
    assert (await next_of(host, "error"))["code"] == "extension_range"
    await host.send_json_to({"type": "control.extend", "minutes": 10})
    extended = await next_of(alice, "room.extended")
    from datetime import datetime

    assert datetime.fromisoformat(extended["ends_at"]) - datetime.fromisoformat(
        state["ends_at"]
    ) == timedelta(minutes=10)
    await host.send_json_to({"type": "control.extend", "minutes": 5})
    assert (await next_of(host, "error"))["code"] == "extended"
    await host.disconnect()
    await alice.disconnect()


# --- The clock and revocation -------------------------------------------------------------------


async def test_each_socket_closes_itself_at_the_end_without_any_worker(room, therapist):
    await sync_to_async(GroupSession.objects.filter(pk=room["session"].pk).update)(
        ends_at=timezone.now() + timedelta(seconds=2)
    )
    alice, _, _ = await joined(room["alice"], room["session"])
    closed = await next_of(alice, "room.closed", timeout=6)
    assert closed["reason"] == "ended"
    assert (await alice.receive_output(timeout=2))["code"] == protocol.CLOSE_ENDED


async def test_the_facilitator_is_warned_five_minutes_before_the_end(room, therapist):
    await sync_to_async(GroupSession.objects.filter(pk=room["session"].pk).update)(
        ends_at=timezone.now() + timedelta(minutes=4)
    )
    host, _, _ = await joined(therapist, room["session"])
    warning = await next_of(host, "room.warning")
    assert warning["minutes_left"] == 4
    await host.disconnect()


async def test_a_login_that_ends_without_any_signal_closes_its_sockets_at_the_next_recheck(
    room, monkeypatch
):
    """Expiry, or rows deleted by hand: no push, so the periodic re-check must notice."""
    monkeypatch.setattr(relay, "RECHECK_SECONDS", 0.2)
    alice, _, _ = await joined(room["alice"], room["session"])
    from django.contrib.sessions.models import Session

    await sync_to_async(Session.objects.all().delete)()  # no logout, no device list: no push
    revoked = await next_of(alice, "room.revoked", timeout=3)
    assert revoked["reason"] == "logged_out"


async def test_a_suspended_person_is_disconnected(room, monkeypatch):
    monkeypatch.setattr(relay, "RECHECK_SECONDS", 60)  # only the push can close it in time
    alice, _, _ = await joined(room["alice"], room["session"])
    user = room["alice"]
    user.suspended_until = timezone.now() + timedelta(days=1)
    await sync_to_async(user.save)(update_fields=["suspended_until"])
    assert (await next_of(alice, "room.revoked", timeout=3))["reason"] == "suspended"


# --- Presence and attendance --------------------------------------------------------------------


async def test_presence_lists_who_is_here_and_attendance_is_recorded(room, therapist):
    host, _, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    presence = await next_of(host, "presence")
    while len(presence["people"]) < 2:
        presence = await next_of(host, "presence")
    assert [p["facilitator"] for p in presence["people"]] == [True, False]
    await alice.disconnect()
    presence = await next_of(host, "presence")
    assert len(presence["people"]) == 1
    rows = await sync_to_async(
        lambda: list(Attendance.objects.filter(participant__user=room["alice"]))
    )()
    assert len(rows) == 1 and rows[0].left_at is not None and rows[0].joined_at <= rows[0].left_at
    await host.disconnect()


async def test_people_arriving_together_share_one_presence_update(room, therapist, monkeypatch):
    monkeypatch.setattr(presence, "PRESENCE_COALESCE_SECONDS", 3)
    from tests.factories import make_member

    host, _, _ = await joined(therapist, room["session"])
    others = [room["alice"], room["bob"]] + [
        (await sync_to_async(make_member)(room["group"])).user for _ in range(3)
    ]
    sockets = [s for s, _, _ in await asyncio.gather(*(joined(u, room["session"]) for u in others))]

    updates = []
    while not updates or len(updates[-1]["people"]) < 6:
        updates.append(await next_of(host, "presence", timeout=6))
    assert len(updates) <= 2  # one per join would be five or six
    assert await host.receive_nothing(timeout=0.5)
    for socket in [host, *sockets]:
        await socket.disconnect()


async def test_a_connection_whose_process_died_drops_out_of_presence(room, therapist):
    from chat.selectors import PRESENCE_TIMEOUT, present

    alice, _, _ = await joined(room["alice"], room["session"])
    await sync_to_async(Attendance.objects.update)(
        last_seen_at=timezone.now() - PRESENCE_TIMEOUT - timedelta(seconds=1)
    )
    assert await sync_to_async(present)(session_id=room["session"].pk, now=timezone.now()) == []
    await alice.disconnect()


async def test_mute_for_me_is_remembered_only_for_the_person_who_chose_it(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    bob, _, _ = await joined(room["bob"], room["session"])
    bob_participant = await participant_of(room["bob"], room["session"])
    await alice.send_json_to(
        {"type": "hide_author", "participant": bob_participant.pk, "hidden": True}
    )
    await asyncio.sleep(0.2)
    await alice.disconnect()
    alice, state, _ = await joined(room["alice"], room["session"])
    assert state["hidden_authors"] == [bob_participant.pk]
    await bob.disconnect()
    bob, state, _ = await joined(room["bob"], room["session"])
    assert state["hidden_authors"] == []
    await alice.disconnect()
    await bob.disconnect()


def test_the_service_refuses_a_second_facilitator_action_on_a_removed_person(room, therapist):
    """Removing twice is harmless: one audit row."""

    session = room["session"]
    from chat.selectors import room_access
    from chat.services import room_join

    access = room_access(user=room["alice"], session_id=session.pk, now=timezone.now())
    participant = room_join(access=access, channel_name="test-channel", now=timezone.now())
    participant_remove(actor=therapist, session_id=session.pk, participant_id=participant.pk)
    participant_remove(actor=therapist, session_id=session.pk, participant_id=participant.pk)
    assert AuditEvent.objects.filter(action=AuditAction.ROOM_MEMBER_REMOVED).count() == 1
    assert Participant.objects.get(pk=participant.pk).removed_at is not None


# --- Robustness ------------------------------------------------------------------------------


async def test_frames_that_are_not_json_get_an_error_and_the_socket_stays(room):
    alice, _, _ = await joined(room["alice"], room["session"])
    await alice.send_to(text_data="this is not json")
    assert (await next_of(alice, "error"))["code"] == "bad_request"
    await alice.send_to(bytes_data=b"\x00\x01")
    assert (await next_of(alice, "error"))["code"] == "bad_request"
    await alice.send_json_to(["a", "list"])
    assert (await next_of(alice, "error"))["code"] == "bad_request"
    await alice.send_json_to({"type": "no.such.thing"})
    assert (await next_of(alice, "error"))["code"] == "bad_request"
    await send(alice, "still here")
    await alice.disconnect()


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"type": "hide_author", "participant": "abc", "hidden": True}, "no_such_person"),
        ({"type": "hide_author", "participant": 1, "hidden": "false"}, "bad_request"),
        ({"type": "control.mute", "participant": "1 OR 1=1"}, "no_such_person"),
        ({"type": "control.hide", "position": "x"}, "no_such_message"),
        ({"type": "control.extend", "minutes": "10"}, "extension_range"),
        ({"type": "resync", "after": "0"}, None),
    ],
)
async def test_odd_field_values_are_refused_politely(room, therapist, event, code):
    host, _, _ = await joined(therapist, room["session"])
    await host.send_json_to(event)
    if code is None:  # resync: from the last position sent instead
        assert (await next_of(host, "history.end"))["position"] == 0
    else:
        assert (await next_of(host, "error"))["code"] == code
    await send(host, "and the socket still works")
    await host.disconnect()


async def test_a_client_that_was_away_learns_which_messages_were_hidden(room, therapist):
    host, _, _ = await joined(therapist, room["session"])
    alice, _, _ = await joined(room["alice"], room["session"])
    ack = await send(alice, "regret this")
    await alice.disconnect()
    await host.send_json_to({"type": "control.hide", "position": ack["position"]})
    await next_of(host, "message.hidden")
    alice, state, _ = await joined(room["alice"], room["session"], after=ack["position"])
    assert state["hidden_positions"] == [ack["position"]]
    await alice.disconnect()
    await host.disconnect()


async def test_sending_after_being_removed_closes_with_the_removed_code(room, therapist):
    alice, _, _ = await joined(room["alice"], room["session"])
    participant = await participant_of(room["alice"], room["session"])
    from chat.services import participant_remove as remove

    await sync_to_async(remove)(
        actor=therapist, session_id=room["session"].pk, participant_id=participant.pk
    )
    await next_of(alice, "you.removed")
    assert (await alice.receive_output(timeout=2))["code"] == protocol.CLOSE_REMOVED


def test_a_socket_trusting_its_own_access_posts_in_three_statements_and_is_still_refused_once_muted(
    room, therapist
):
    """The consumer passes its own access decision (renewed at every re-check) instead of
    deciding again per message; what a facilitator changes in the room is still read under the
    room lock."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.exceptions import ServiceError
    from chat.selectors import room_access
    from chat.services import message_post, participant_set_muted, room_join

    session = room["session"]
    access = room_access(user=room["alice"], session_id=session.pk, now=timezone.now())
    participant = room_join(access=access, channel_name="test.alice", now=timezone.now())
    access = room_access(user=room["alice"], session_id=session.pk, now=timezone.now())

    def post() -> None:
        message_post(
            actor=room["alice"], session_id=session.pk, body="hi", client_id=new_id(), access=access
        )

    with CaptureQueriesContext(connection) as queries:
        post()
    statements = [
        q["sql"].split()[0] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]
    ]
    # The next position (the room lock); the sender's state (client_id's original, mute,
    # removal, the session's times); the message.
    assert statements == ["BEGIN", "UPDATE", "SELECT", "INSERT", "COMMIT"]

    participant_set_muted(
        actor=therapist, session_id=session.pk, participant_id=participant.pk, muted=True
    )
    with pytest.raises(ServiceError) as refused:
        post()  # ``access`` still says unmuted
    assert refused.value.code == "muted"


def test_a_resend_gets_its_original_back_even_when_it_would_now_be_refused(
    room, therapist, settings
):
    """Muted since, or over the rate limit: a resend of a stored message is not a new one."""
    from chat.selectors import room_access
    from chat.services import message_post, participant_set_muted, room_join

    settings.CHAT_RATE_LIMIT_BURST = 1
    session = room["session"]
    access = room_access(user=room["alice"], session_id=session.pk, now=timezone.now())
    participant = room_join(access=access, channel_name="test.alice", now=timezone.now())
    access = room_access(user=room["alice"], session_id=session.pk, now=timezone.now())
    client_id = new_id()

    def post():
        return message_post(
            actor=room["alice"],
            session_id=session.pk,
            body="hi",
            client_id=client_id,
            access=access,
        )

    first = post()
    again = post()  # the second message in the window: over the limit
    participant_set_muted(
        actor=therapist, session_id=session.pk, participant_id=participant.pk, muted=True
    )
    settings.CHAT_RATE_LIMIT_BURST = 1000
    once_muted = post()
    assert first.created and not again.created and not once_muted.created
    assert again.message.pk == once_muted.message.pk == first.message.pk
    assert Message.objects.filter(session=session).count() == 1
    assert Room.objects.get(session=session).last_position == 1  # no position spent


async def test_sockets_asking_for_the_same_read_at_once_share_one_query(room):
    calls = []

    def slow_count(*, session_id):
        calls.append(session_id)
        time.sleep(0.1)
        return Message.objects.filter(session_id=session_id).count()

    key = ("test", room["session"].pk)
    first = asyncio.ensure_future(
        shared_reads.shared_read(key, slow_count, session_id=room["session"].pk)
    )
    await asyncio.sleep(0.02)
    second = shared_reads.shared_read(key, slow_count, session_id=room["session"].pk)
    first.cancel()  # the first socket went away: the second still gets its answer
    assert await second == 0
    assert calls == [room["session"].pk]
    # Once done, the next read is a new one.
    assert await shared_reads.shared_read(key, slow_count, session_id=room["session"].pk) == 0
    assert len(calls) == 2
