"""A login that ends closes its own sockets at once, and only its own; a person suspended or
struck off loses every socket at once.

Each socket re-checks its right every RECHECK_SECONDS; these tests set that far beyond their
timeouts, so only a push (from the logout, the device list, the suspension or the revoked
rights) can close a socket in time.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from chat import protocol, relay
from tests.chat.test_room import joined, new_id, next_of

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PROMPTLY = 2  # seconds


@pytest.fixture(autouse=True)
def _no_recheck_in_time(monkeypatch):
    monkeypatch.setattr(relay, "RECHECK_SECONDS", 60)


def device(user) -> Client:
    """A browser logged in as ``user``, listed in allauth's device list (as after any page)."""
    client = Client()
    client.force_login(user)
    assert client.get(reverse("accounts:profile")).status_code == 200
    return client


def key(client: Client) -> str:
    return client.cookies["sessionid"].value


async def expect_revoked(communicator, reasons=("logged_out",)) -> None:
    revoked = await next_of(communicator, "room.revoked", timeout=PROMPTLY)
    assert revoked["reason"] in reasons
    closed = await communicator.receive_output(timeout=PROMPTLY)
    assert closed == {"type": "websocket.close", "code": protocol.CLOSE_REVOKED}


async def expect_still_open(communicator) -> None:
    """The socket still works: a message goes through, and no revocation came first."""
    await communicator.send_json_to(
        {"type": "message.send", "client_id": new_id(), "body": "still here"}
    )
    events = []
    while not events or events[-1]["type"] != "message.ack":
        events.append(await communicator.receive_json_from(timeout=PROMPTLY))
    assert "room.revoked" not in [event["type"] for event in events]


async def test_logging_out_closes_that_logins_sockets_at_once_and_not_the_other_logins(room):
    alice, session = room["alice"], room["session"]
    phone, laptop = await sync_to_async(device)(alice), await sync_to_async(device)(alice)
    on_phone, _, _ = await joined(alice, session, cookie=key(phone))
    also_on_phone, _, _ = await joined(alice, session, cookie=key(phone))  # a second tab
    on_laptop, _, _ = await joined(alice, session, cookie=key(laptop))

    response = await sync_to_async(phone.post)(reverse("account_logout"))

    assert response.status_code == 302
    await expect_revoked(on_phone)
    await expect_revoked(also_on_phone)
    await expect_still_open(on_laptop)
    assert await sync_to_async(Session.objects.filter(session_key=key(laptop)).exists)()
    await on_laptop.disconnect()


async def test_ending_my_other_logins_from_the_device_list_closes_their_sockets(room):
    alice, session = room["alice"], room["session"]
    here, elsewhere = await sync_to_async(device)(alice), await sync_to_async(device)(alice)
    on_this_device, _, _ = await joined(alice, session, cookie=key(here))
    on_the_other, _, _ = await joined(alice, session, cookie=key(elsewhere))

    response = await sync_to_async(here.post)(reverse("usersessions_list"))

    assert response.status_code == 302
    await expect_revoked(on_the_other)
    await expect_still_open(on_this_device)
    await on_this_device.disconnect()


async def test_suspending_a_person_closes_all_their_sockets_at_once(room, staff_user):
    from moderation.services import account_suspend

    alice, session = room["alice"], room["session"]
    phone, laptop = await sync_to_async(device)(alice), await sync_to_async(device)(alice)
    on_phone, _, _ = await joined(alice, session, cookie=key(phone))
    on_laptop, _, _ = await joined(alice, session, cookie=key(laptop))
    bob, _, _ = await joined(room["bob"], session)

    await sync_to_async(account_suspend)(actor=staff_user, user=alice, reason="Threats", until=None)

    await expect_revoked(on_phone, reasons=("suspended", "logged_out"))
    await expect_revoked(on_laptop, reasons=("suspended", "logged_out"))
    await expect_still_open(bob)
    await bob.disconnect()


async def test_a_therapist_struck_off_leaves_the_room_they_were_facilitating_at_once(
    room, therapist, staff_user
):
    from accounts.roles import Role
    from accounts.services import role_revoke

    facilitator, state, _ = await joined(therapist, room["session"])
    assert state["you"]["role"] == "facilitator"
    bob, _, _ = await joined(room["bob"], room["session"])

    await sync_to_async(role_revoke)(actor=staff_user, user=therapist, role=Role.THERAPIST)

    await expect_revoked(facilitator, reasons=("not_allowed",))
    await expect_still_open(bob)
    await bob.disconnect()
