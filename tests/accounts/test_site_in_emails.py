"""Account emails name the site as it runs (SITE_URL: under `make run`, the port in use) and
link to it, whichever host the form was posted to; never the localhost:8000 the sites table
was given."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RUNNING_AT = "http://127.0.0.1:8123"


@pytest.fixture(autouse=True)
def _running_on_another_port(settings):
    settings.SITE_URL = RUNNING_AT


def _only_the_running_site(body: str) -> list[str]:
    """The site addresses in ``body``, after checking none is a stale or made-up one."""
    for stale in ("localhost:8000", "127.0.0.1:8000", "example.com", "testserver"):
        assert stale not in body
    return re.findall(r"https?://\S+", body)


def test_the_verification_email_names_the_running_site_and_links_to_it(client):
    response = client.post(
        reverse("account_signup"),
        {
            "email": "new.person@mail.test",
            "display_name": "Morning Heron",
            "password1": "a-long-calm-password-7",
            "password2": "a-long-calm-password-7",
            "time_zone": "Europe/London",
        },
    )
    assert response.status_code == 302
    [message] = mail.outbox
    assert "register an account on 127.0.0.1:8123" in message.body
    [link] = _only_the_running_site(message.body)
    assert link.startswith(f"{RUNNING_AT}/accounts/confirm-email/")
    assert client.get(link.removeprefix(RUNNING_AT)).status_code == 200


def test_the_password_reset_email_links_to_the_running_site(client):
    UserFactory(email="forgetful@mail.test")
    client.post(reverse("account_reset_password"), {"email": "forgetful@mail.test"})
    [message] = mail.outbox
    assert "127.0.0.1:8123" in message.body
    [link] = _only_the_running_site(message.body)
    assert link.startswith(f"{RUNNING_AT}/accounts/password/reset/key/")


def test_the_email_to_an_unknown_address_links_to_the_running_site(client):
    client.post(reverse("account_reset_password"), {"email": "nobody@mail.test"})
    [message] = mail.outbox
    links = _only_the_running_site(message.body)
    assert f"{RUNNING_AT}{reverse('account_signup')}" in links
