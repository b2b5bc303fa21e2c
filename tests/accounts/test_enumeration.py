"""Whether an address has an account shows neither in the answer nor in the work behind it.

Sign-up, login and password reset answer an address that has an account exactly as they answer
one that has none (allauth's ACCOUNT_PREVENT_ENUMERATION), and they must also take as long.
Time is what an outsider measures, but timing assertions flake, so these tests count the work
that takes the time instead: password hashes (each costs about half a second with the
production hasher) and emails sent. bench/enumeration.py measures the time itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KNOWN = "known@example.com"
UNKNOWN = "nobody@example.com"


class CountingPasswordHasher(MD5PasswordHasher):
    """The suite's fast MD5 hasher, counting every hash it computes (checking a password
    computes one too: ``verify`` calls ``encode``)."""

    computed: ClassVar[int] = 0

    def encode(self, password: str, salt: str) -> str:
        CountingPasswordHasher.computed += 1
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def _counting_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingPasswordHasher"]


@pytest.fixture(params=["verified", "unverified"])
def known_person(request):
    """Someone with an account at KNOWN: whether they ever confirmed it must not show either."""
    person = UserFactory(email=KNOWN, display_name="Quiet Harbour")
    if request.param == "unverified":
        person.emailaddress_set.update(verified=False)
    return person


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    page: str
    hashes: int
    emails: int


def _neutral(page: str, address: str) -> str:
    """``page`` without what differs from one try to the next: the CSRF token and the address
    typed in."""
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', page)
    return page.replace(address, "ADDRESS")


def _post(url: str, data: dict[str, str], *, address: str) -> Answer:
    """POST ``data`` as a newcomer would (a fresh client), and what it cost and showed."""
    client = Client()
    hashes_before, emails_before = CountingPasswordHasher.computed, len(mail.outbox)
    response = client.post(url, data)
    hashes = CountingPasswordHasher.computed - hashes_before
    emails = len(mail.outbox) - emails_before
    location = response.get("Location", "")
    shown = client.get(location) if location else response
    return Answer(
        status=response.status_code,
        location=location,
        page=_neutral(shown.content.decode(), address),
        hashes=hashes,
        emails=emails,
    )


def _signup(address: str, display_name: str) -> Answer:
    password = "a-long-calm-password-7"
    form = {
        "email": address,
        "display_name": display_name,
        "password1": password,
        "password2": password,
        "time_zone": "Europe/London",
    }
    return _post(reverse("account_signup"), form, address=address)


def test_signing_up_with_a_known_address_does_the_work_of_a_new_sign_up(known_person):
    known = _signup(KNOWN, "Morning Heron")
    unknown = _signup(UNKNOWN, "Evening Wren")

    assert unknown.status == 302
    assert unknown.location == reverse("account_email_verification_sent")
    assert unknown.hashes == 1  # the new account's password
    assert unknown.emails == 1  # the verification email
    assert known == unknown


def test_logging_in_with_an_unknown_address_does_the_work_of_a_wrong_password(known_person):
    url = reverse("account_login")
    wrong_password = _post(url, {"login": KNOWN, "password": "not-the-password"}, address=KNOWN)
    unknown = _post(url, {"login": UNKNOWN, "password": "not-the-password"}, address=UNKNOWN)

    assert unknown.status == 200
    assert "not correct" in unknown.page
    assert unknown.hashes >= 1
    assert unknown.emails == 0
    assert wrong_password == unknown


def test_asking_to_reset_an_unknown_address_does_the_work_of_a_known_one(known_person):
    url = reverse("account_reset_password")
    known = _post(url, {"email": KNOWN}, address=KNOWN)
    unknown = _post(url, {"email": UNKNOWN}, address=UNKNOWN)

    assert unknown.status == 302
    assert unknown.location == reverse("account_reset_password_done")
    assert unknown.emails == 1  # "someone asked, but there is no account here"
    assert known == unknown
