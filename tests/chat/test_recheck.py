"""The periodic re-check: every socket of a room in a process at once, in a few queries, by the
same rules as the door; and a person in a live room is not idle."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import relay, services
from chat.models import Attendance, Participant
from chat.selectors import RoomAccess, RoomRefusal, room_access, room_access_many
from chat.services import Socket, room_join, room_recheck, room_set_locked
from tests.chat.conftest import session_cookie
from tests.chat.test_room import joined, next_of, send
from tests.factories import make_member

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def enter(user, session, *, login: str | None = None) -> Socket:
    """``user`` in the room as a socket would be: joined, with a login of their own."""
    access = room_access(user=user, session_id=session.pk, now=timezone.now())
    socket = Socket(
        channel_name=f"test.{user.pk}",
        user_id=user.pk,
        login_key=session_cookie(user) if login is None else login,
    )
    room_join(access=access, channel_name=socket.channel_name, now=timezone.now())
    return socket


def verdict_code(verdict: RoomAccess | RoomRefusal) -> str:
    return verdict.code if isinstance(verdict, RoomRefusal) else verdict.role


def test_one_recheck_decides_for_every_socket_of_a_room_in_the_same_few_queries(room, therapist):
    session = room["session"]
    host = enter(therapist, session)
    alice = enter(room["alice"], session)
    bob = enter(room["bob"], session)
    # Seven more (the group holds ten): four each turned away for a reason of their own.
    others = [enter(make_member(room["group"]).user, session) for _ in range(7)]
    suspended, removed, logged_out, gone = others[:4]
    user_of = {
        s.user_id: Participant.objects.get(session=session, user_id=s.user_id) for s in others
    }
    user_of[suspended.user_id].user.__class__.objects.filter(pk=suspended.user_id).update(
        suspended_until=timezone.now() + timedelta(days=1)
    )
    services.participant_remove(
        actor=therapist, session_id=session.pk, participant_id=user_of[removed.user_id].pk
    )
    Session.objects.filter(session_key=logged_out.login_key).delete()
    user_of[gone.user_id].user.enrollments.update(state="removed")
    before = timezone.now()
    Attendance.objects.update(last_seen_at=before - timedelta(minutes=1))
    Session.objects.update(expire_date=before + timedelta(seconds=30))
    everyone = [host, alice, bob, *others]

    with CaptureQueriesContext(connection) as one:
        alone = room_recheck(session_id=session.pk, sockets=[alice], now=before)
    with CaptureQueriesContext(connection) as many:
        verdicts = room_recheck(session_id=session.pk, sockets=everyone, now=before)

    assert verdict_code(alone[alice.channel_name]) == "member"
    assert len(many.captured_queries) <= len(one.captured_queries) + 1  # not one set per socket
    codes = {name: verdict_code(verdict) for name, verdict in verdicts.items()}
    assert codes == {
        host.channel_name: "facilitator",
        alice.channel_name: "member",
        bob.channel_name: "member",
        suspended.channel_name: "suspended",
        removed.channel_name: "removed",
        logged_out.channel_name: "logged_out",
        gone.channel_name: "not_allowed",
        **{s.channel_name: "member" for s in others[4:]},
    }
    staying = {name for name, code in codes.items() if code in ("member", "facilitator")}
    seen = dict(Attendance.objects.values_list("channel_name", "last_seen_at"))
    assert {name for name, at in seen.items() if at == before} == staying
    # A login in a live room is not idle: its expiry moves on; the others' do not.
    renewed = {
        key
        for key, expires in Session.objects.values_list("session_key", "expire_date")
        if expires > before + timedelta(seconds=30)
    }
    assert renewed == {s.login_key for s in everyone if s.channel_name in staying}


def test_deciding_for_many_at_once_agrees_with_deciding_for_each(room, therapist, outsider):
    session = room["session"]
    newcomer = make_member(room["group"]).user
    suspended = make_member(room["group"]).user
    suspended.suspended_until = timezone.now() + timedelta(days=1)
    suspended.save(update_fields=["suspended_until"])
    enter(room["alice"], session)
    room_set_locked(actor=therapist, session_id=session.pk, locked=True)
    people = [therapist, room["alice"], room["bob"], newcomer, suspended, outsider]
    now = timezone.now()

    together = room_access_many(users=people, session_id=session.pk, now=now)

    for person in people:
        try:
            alone: RoomAccess | RoomRefusal = room_access(
                user=person, session_id=session.pk, now=now
            )
        except RoomRefusal as refusal:
            alone = refusal
        assert verdict_code(together[person.pk]) == verdict_code(alone)
        if isinstance(alone, RoomAccess):
            assert together[person.pk] == alone
    assert [verdict_code(together[p.pk]) for p in people] == [
        "facilitator",
        "member",  # in the room before the lock
        "locked",
        "locked",
        "suspended",
        "not_allowed",
    ]


async def test_the_sockets_of_a_room_in_one_process_are_rechecked_together(
    room, therapist, monkeypatch
):
    monkeypatch.setattr(relay, "RECHECK_SECONDS", 0.3)
    calls: list[int] = []
    real = services.room_recheck

    def counted(**kwargs):
        calls.append(len(kwargs["sockets"]))
        return real(**kwargs)

    monkeypatch.setattr(services, "room_recheck", counted)
    sockets = [
        (await joined(user, room["session"]))[0] for user in (therapist, room["alice"], room["bob"])
    ]
    while not calls or calls[-1] < 3:
        await asyncio.sleep(0.05)
        assert len(calls) < 50, calls
    # And the round brings each socket the room's presence, unasked.
    for socket in sockets:
        presence = await next_of(socket, "presence")
        while len(presence["people"]) < 3:
            presence = await next_of(socket, "presence")
    for socket in sockets:
        await socket.disconnect()
    assert relay.RoomsHere.here().rooms == {}  # the last to leave closes the room here


async def test_a_person_in_a_live_room_outlasts_the_idle_timeout(room, settings, monkeypatch):
    """Reading along for longer than SESSION_COOKIE_AGE, with no page asked for, is not idling:
    before, the first re-check after it closed the socket as logged out."""
    settings.SESSION_COOKIE_AGE = 2
    monkeypatch.setattr(relay, "RECHECK_SECONDS", 0.3)
    alice, _, _ = await joined(room["alice"], room["session"])
    await asyncio.sleep(3)
    ack = await send(alice, "still here")
    assert ack["type"] == "message.ack"
    await alice.disconnect()


async def test_a_login_past_its_absolute_lifetime_is_closed_at_the_next_recheck(
    room, settings, monkeypatch
):
    """Renewing the idle expiry never stretches a login past SESSION_ABSOLUTE_SECONDS."""
    monkeypatch.setattr(relay, "RECHECK_SECONDS", 0.3)
    alice, _, _ = await joined(room["alice"], room["session"])
    settings.SESSION_ABSOLUTE_SECONDS = 1
    await asyncio.sleep(1.1)
    revoked = await next_of(alice, "room.revoked", timeout=3)
    assert revoked["reason"] == "expired"
    assert await sync_to_async(Session.objects.count)() == 1  # not renewed; the page logs it out


async def test_a_socket_is_authenticated_from_its_cookie_and_its_frames_pass_unwrapped(room):
    """The room's stack reads the login without wrapping ``send`` (Channels' session
    middleware checks every frame for an HTTP response to save the session on)."""
    from chat.middleware import socket_auth_stack

    seen = {}

    async def inner(scope, receive, send):
        seen["user"] = scope["user"].pk
        seen["send"] = send

    async def server_send(message):
        pass

    cookie = await sync_to_async(session_cookie)(room["alice"])
    scope = {
        "type": "websocket",
        "path": "/ws/",
        "headers": [(b"cookie", f"sessionid={cookie}".encode())],
    }
    await socket_auth_stack(inner)(scope, None, server_send)
    assert seen == {"user": room["alice"].pk, "send": server_send}

    await socket_auth_stack(inner)({**scope, "headers": []}, None, server_send)
    assert seen["user"] is None  # no cookie: anonymous
