"""One login policy at every door: the room socket's handshake and its re-checks refuse what a
page refuses (accounts.policy). Each rule is walked on the page and on the socket."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from accounts.sessions import LOGIN_AT
from groups import rights
from tests.chat.conftest import connect, open_session
from tests.chat.test_room import joined, next_of
from tests.factories import UserFactory, add_totp, make_group

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def co_facilitated(therapist):
    """An open room whose group has a second facilitator, a verified therapist who never set
    up two-step login (and logs in with the password alone)."""
    group = make_group(therapist, title="Thursday circle", capacity=10)
    cofacilitator = UserFactory(display_name="Second Chair", roles=[Role.THERAPIST])
    rights.grant(user=cofacilitator, group=group)
    return {"session": open_session(group), "cofacilitator": cofacilitator}


def login_cookie(client, user) -> str:
    client.force_login(user)
    return client.cookies["sessionid"].value


def age_login(client, seconds: int) -> None:
    """Make the client's login ``seconds`` old, as if it began that long ago."""
    session = client.session
    session[LOGIN_AT] = (timezone.now() - timedelta(seconds=seconds)).timestamp()
    session.save()


# --- Two-step login ------------------------------------------------------------------------------


def test_a_page_sends_a_cofacilitator_without_two_step_login_to_set_it_up(client, co_facilitated):
    client.force_login(co_facilitated["cofacilitator"])
    response = client.get(reverse("groups:my_schedule"))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


async def test_the_socket_refuses_a_cofacilitator_without_two_step_login(co_facilitated):
    socket, connected = await connect(co_facilitated["cofacilitator"], co_facilitated["session"])
    assert not connected  # refused at the handshake: no state, no history, no controls
    await socket.disconnect()


async def test_the_same_cofacilitator_with_two_step_login_is_let_in_as_facilitator(
    co_facilitated,
):
    await sync_to_async(add_totp)(co_facilitated["cofacilitator"])
    socket, state, _ = await joined(co_facilitated["cofacilitator"], co_facilitated["session"])
    assert state["you"]["role"] == "facilitator"
    await socket.disconnect()


def test_a_right_on_a_group_alone_requires_two_step_login_on_pages(client, therapist):
    """Not a role: a right on another's things (here a client given a group's rights)."""
    holder = UserFactory(display_name="Right Holder")
    rights.grant(user=holder, group=make_group(therapist, title="Friday circle"))
    client.force_login(holder)
    response = client.get(reverse("groups:my_schedule"))
    assert response["Location"] == reverse("mfa_activate_totp")


async def test_a_right_on_a_group_alone_requires_two_step_login_on_the_socket(therapist):
    holder = await sync_to_async(UserFactory)(display_name="Right Holder")

    def scene():
        group = make_group(therapist, title="Friday circle")
        rights.grant(user=holder, group=group)
        return open_session(group)

    session = await sync_to_async(scene)()
    socket, connected = await connect(holder, session)
    assert not connected
    await socket.disconnect()


async def test_gaining_a_role_without_two_step_login_closes_the_persons_open_sockets(room):
    alice, _, _ = await joined(room["alice"], room["session"])

    def grant_role():
        room["alice"].groups.add(Group.objects.get(name=Role.THERAPIST.value))

    await sync_to_async(grant_role)()
    revoked = await next_of(alice, "room.revoked", timeout=5)
    assert revoked["reason"] == "mfa_required"
    assert (await alice.receive_output(timeout=3))["type"] == "websocket.close"


async def test_removing_the_second_factor_closes_a_facilitators_open_sockets(room, therapist):
    host, state, _ = await joined(therapist, room["session"])
    assert state["you"]["role"] == "facilitator"
    await sync_to_async(Authenticator.objects.filter(user=therapist).delete)()
    revoked = await next_of(host, "room.revoked", timeout=5)
    assert revoked["reason"] == "mfa_required"


# --- Login lifetime and suspension ---------------------------------------------------------------


def test_a_page_logs_out_a_login_past_its_absolute_lifetime(client, member, settings):
    settings.SESSION_ABSOLUTE_SECONDS = 150
    client.force_login(member)
    age_login(client, 151)
    response = client.get(reverse("groups:my_schedule"))
    assert response["Location"] == reverse("account_login")
    assert "_auth_user_id" not in client.session


def aged_login_cookie(user, seconds: int) -> str:
    """A login of ``user`` that began ``seconds`` ago, as its session key."""
    client = Client()
    cookie = login_cookie(client, user)
    age_login(client, seconds)
    return cookie


async def test_a_new_socket_with_a_login_past_its_absolute_lifetime_is_refused(room, settings):
    settings.SESSION_ABSOLUTE_SECONDS = 150
    cookie = await sync_to_async(aged_login_cookie)(room["alice"], 151)
    socket, connected = await connect(room["alice"], room["session"], cookie=cookie)
    assert not connected  # no state, history or presence for an expired login
    await socket.disconnect()


async def test_a_socket_within_its_lifetime_is_let_in(room, settings):
    settings.SESSION_ABSOLUTE_SECONDS = 150
    cookie = await sync_to_async(aged_login_cookie)(room["alice"], 100)
    socket, connected = await connect(room["alice"], room["session"], cookie=cookie)
    assert connected
    await socket.disconnect()


def test_a_page_logs_out_a_suspended_account(client, member):
    client.force_login(member)
    type(member).objects.filter(pk=member.pk).update(
        suspended_until=timezone.now() + timedelta(days=1)
    )
    response = client.get(reverse("groups:my_schedule"))
    assert response["Location"] == reverse("account_login")


async def test_a_suspended_account_is_refused_at_the_handshake(room):
    def suspend():
        type(room["alice"]).objects.filter(pk=room["alice"].pk).update(
            suspended_until=timezone.now() + timedelta(days=1)
        )

    cookie = await sync_to_async(login_cookie)(Client(), room["alice"])
    await sync_to_async(suspend)()
    socket, connected = await connect(room["alice"], room["session"], cookie=cookie)
    assert not connected
    await socket.disconnect()
