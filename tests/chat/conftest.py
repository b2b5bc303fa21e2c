"""Helpers for room tests: open sessions, logged-in sockets against the real ASGI app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone

from config.asgi import application
from groups.models import GroupSession
from tests.factories import make_group, make_member, make_session

ORIGIN = b"http://localhost"


def open_session(
    group, *, started_minutes_ago: int = 5, minutes_left: int = 55, days_ahead: int = 20
) -> GroupSession:
    """A session of ``group`` whose room is open now (moved onto the clock directly). It is
    made ``days_ahead`` days ahead first: give each of a facilitator's sessions its own day."""
    session = make_session(group, days_ahead=days_ahead)
    now = timezone.now()
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=now - timedelta(minutes=started_minutes_ago),
        ends_at=now + timedelta(minutes=minutes_left),
    )
    session.refresh_from_db()
    return session


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect(
    user, session, *, after: int = 0, origin: bytes | None = ORIGIN, cookie: str | None = None
):
    """A socket for ``user`` to ``session``'s room, under a new login or the login ``cookie``
    (a session key); returns (communicator, connected)."""
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None and cookie is None:
        cookie = await sync_to_async(session_cookie)(user)
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/sessions/{session.pk}/?after={after}", headers=headers
    )
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def receive_until(communicator, kind: str, *, timeout: float = 3) -> list[dict]:
    """Every event up to and including the first of type ``kind``."""
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        events.append(event)
        if event["type"] == kind:
            return events


@pytest.fixture
def room(therapist):
    """A group with two members and a session whose room is open now."""
    group = make_group(therapist, title="Evening circle", capacity=10)
    first, second = make_member(group), make_member(group)
    session = open_session(group)
    return {"group": group, "session": session, "alice": first.user, "bob": second.user}


@pytest.fixture(autouse=True)
def _generous_rate_limit(settings):
    """Room tests send quickly; the rate-limit test sets the real burst back itself."""
    settings.CHAT_RATE_LIMIT_BURST = 1000


@pytest.fixture(autouse=True)
async def _close_connections_of_the_database_thread():
    """Consumers reach the database from their pool of threads (and tests from asgiref's worker
    thread); close those connections after each test, or PostgreSQL cannot drop the test
    database at the end."""
    yield
    from django.db import connections

    from chat.db_threads import db_pool_close_connections

    await sync_to_async(connections.close_all)()
    await sync_to_async(db_pool_close_connections, thread_sensitive=False)()
