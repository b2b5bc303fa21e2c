"""After logging in, each person lands on their own page, unless they asked for another."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.roles import Role
from tests.conftest import totp_code
from tests.factories import PASSWORD, UserFactory, add_totp, make_group

pytestmark = pytest.mark.django_db


def _log_in(client, user, *, secret: str | None = None, next_url: str | None = None) -> str:
    """Log in through allauth's forms (the second step too); return where it sends them."""
    url = reverse("account_login") + (f"?next={next_url}" if next_url else "")
    response = client.post(url, {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    if secret is not None:
        assert response["Location"] == reverse("mfa_authenticate")
        response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
        assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    return response["Location"]


def test_a_member_lands_on_my_schedule(client, member):
    assert _log_in(client, member) == reverse("groups:my_schedule")


def test_a_facilitator_lands_on_groups_i_lead(client):
    therapist = UserFactory(roles=[Role.THERAPIST])
    secret = add_totp(therapist)
    make_group(therapist)
    assert _log_in(client, therapist, secret=secret) == reverse("groups:dashboard")


def test_a_therapist_with_no_group_yet_lands_where_they_can_start_one(client):
    therapist = UserFactory(roles=[Role.THERAPIST])
    secret = add_totp(therapist)
    assert _log_in(client, therapist, secret=secret) == reverse("groups:dashboard")


def test_staff_who_lead_no_group_land_on_my_schedule(client):
    staff = UserFactory(roles=[Role.STAFF])
    secret = add_totp(staff)
    assert _log_in(client, staff, secret=secret) == reverse("groups:my_schedule")


def test_a_safe_next_is_honoured_for_a_member_and_a_facilitator(client, member):
    wanted = reverse("groups:directory")
    assert _log_in(client, member, next_url=wanted) == wanted
    client.logout()
    therapist = UserFactory(roles=[Role.THERAPIST])
    secret = add_totp(therapist)
    make_group(therapist)
    assert _log_in(client, therapist, secret=secret, next_url=wanted) == wanted


def test_a_next_pointing_off_the_site_is_ignored(client, member):
    landed = _log_in(client, member, next_url="https://elsewhere.example/phish")
    assert landed == reverse("groups:my_schedule")
