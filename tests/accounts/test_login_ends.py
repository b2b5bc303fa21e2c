"""Logins are read from the shared cache (Redis), and a login ended by any path is refused at
once: on the next page and at the room socket's handshake. Each path must end the login
through the session store, or the cached copy would keep it working until it expired."""

from __future__ import annotations

from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.sessions import logins_end
from tests.chat.conftest import (  # noqa: F401 (the fixture closes the room's connections)
    _close_connections_of_the_database_thread,
    connect,
    open_session,
)
from tests.chat.test_revocation import device, key
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def log_out(*, ended, other, person, staff) -> None:
    assert ended.post(reverse("account_logout")).status_code == 302


def sign_out_other_devices(*, ended, other, person, staff) -> None:
    assert other.post(reverse("usersessions_list")).status_code == 302


def delete_in_the_admin(*, ended, other, person, staff) -> None:
    login = UserSession.objects.get(session_key=key(ended))
    admin = Client()
    admin.force_login(staff)
    response = admin.post(
        reverse("admin:usersessions_usersession_delete", args=[login.pk]), {"post": "yes"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]


def end_by_key(*, ended, other, person, staff) -> None:
    logins_end([key(ended)])


def erase_the_account(*, ended, other, person, staff) -> None:
    from moderation.data_rights import account_erase

    account_erase(actor=person)


def change_the_password(*, ended, other, person, staff) -> None:
    person.set_password("a-brand-new-password-9")
    person.save()


def suspend(*, ended, other, person, staff) -> None:
    from moderation.services import account_suspend

    account_suspend(actor=staff, user=person, reason="Threats", until=None)


def test_the_session_store_reads_what_djangos_own_reads(member):
    """The baked read (accounts.session_store) against Django's table-backed store."""
    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    from accounts.session_store import SessionStore

    kept = DjangoStore()
    kept["hearth_seen_at"] = 1.5
    kept.create()
    expired = DjangoStore()
    expired["hearth_seen_at"] = 2.5
    expired.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    for login in (kept.session_key, expired.session_key, "no-such-login-key", ""):
        ours, django = SessionStore(session_key=login), DjangoStore(session_key=login)
        assert ours.load() == django.load()
        assert ours.session_key == django.session_key
    assert SessionStore(session_key=kept.session_key).load() == {"hearth_seen_at": 1.5}
    assert SessionStore(session_key=expired.session_key).load() == {}


@pytest.mark.parametrize(
    "end",
    [
        log_out,
        sign_out_other_devices,
        delete_in_the_admin,
        end_by_key,
        erase_the_account,
        change_the_password,
        suspend,
    ],
)
async def test_a_login_ended_is_refused_on_the_next_page_and_at_the_socket(
    end, therapist, superuser
):
    group = await sync_to_async(make_group)(therapist, title="Evening circle", capacity=10)
    person = (await sync_to_async(make_member)(group)).user
    session = await sync_to_async(open_session)(group)
    ended, other = await sync_to_async(device)(person), await sync_to_async(device)(person)
    ended_key = key(ended)
    socket, connected = await connect(None, session, cookie=ended_key)
    assert connected  # the login works before it is ended
    await socket.disconnect()

    await sync_to_async(end)(ended=ended, other=other, person=person, staff=superuser)

    _, connected = await connect(None, session, cookie=ended_key)
    assert not connected
    ended.cookies["sessionid"] = ended_key  # as a browser that kept the cookie would send it
    response = await sync_to_async(ended.get)(reverse("accounts:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


async def test_signing_out_the_other_devices_leaves_this_one_working(therapist):
    group = await sync_to_async(make_group)(therapist, title="Evening circle", capacity=10)
    person = (await sync_to_async(make_member)(group)).user
    session = await sync_to_async(open_session)(group)
    here, elsewhere = await sync_to_async(device)(person), await sync_to_async(device)(person)

    await sync_to_async(sign_out_other_devices)(
        ended=elsewhere, other=here, person=person, staff=None
    )

    socket, connected = await connect(None, session, cookie=key(here))
    assert connected
    await socket.disconnect()
    assert (await sync_to_async(here.get)(reverse("accounts:profile"))).status_code == 200
