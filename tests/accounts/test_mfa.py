"""Two-step login is required for therapists, peer supervisors and staff, including the admin."""

from __future__ import annotations

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from moderation.models import AuditAction, AuditEvent
from tests.conftest import login_with_password, reauthenticate, totp_code
from tests.factories import PASSWORD, UserFactory, add_totp

pytestmark = pytest.mark.django_db

PRIVILEGED = ["therapist_without_mfa", "peer_supervisor_without_mfa", "staff_user_without_mfa"]


@pytest.mark.parametrize("persona", PRIVILEGED)
@pytest.mark.parametrize(
    "url_name", ["home", "guidelines", "accounts:profile", "admin:index", "account_email"]
)
def test_a_privileged_person_without_mfa_is_sent_to_set_it_up(client, request, persona, url_name):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_activate_totp")


@pytest.mark.parametrize("persona", PRIVILEGED)
def test_before_mfa_they_can_still_set_it_up_get_help_and_log_out(client, request, persona):
    login_with_password(client, request.getfixturevalue(persona))
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_reauthenticate"))
    reauthenticate(client)
    assert client.get(reverse("mfa_activate_totp")).status_code == 200
    assert client.get(reverse("help")).status_code == 200
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_client_is_not_asked_for_mfa(client, member):
    client.force_login(member)
    assert client.get(reverse("accounts:profile")).status_code == 200


@pytest.mark.parametrize("persona", ["therapist", "peer_supervisor"])
def test_with_mfa_set_up_privileged_people_reach_their_pages(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_setting_up_totp_lifts_the_requirement_and_is_audited(client, therapist_without_mfa):
    login_with_password(client, therapist_without_mfa)
    reauthenticate(client)
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(
        user=therapist_without_mfa, type=Authenticator.Type.TOTP
    ).exists()
    assert client.get(reverse("accounts:profile")).status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCOUNT_MFA_ENABLED, actor=therapist_without_mfa
    ).exists()


def test_the_admin_login_is_allauths_login(client):
    response = client.get(reverse("admin:login"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_staff_reach_the_admin_only_after_the_second_step(client, db):
    staff = UserFactory(email="staff@example.com", is_staff=True)
    secret = add_totp(staff)
    response = client.post(
        reverse("account_login") + "?next=/admin/",
        {"login": "staff@example.com", "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_authenticate")
    assert client.get(reverse("admin:index")).status_code == 302  # not logged in yet

    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert response.status_code == 200  # wrong code: asked again
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_turning_totp_off_is_audited_and_the_requirement_returns(client, therapist_without_mfa):
    secret = add_totp(therapist_without_mfa)
    client.post(
        reverse("account_login"), {"login": therapist_without_mfa.email, "password": PASSWORD}
    )
    client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert client.get(reverse("accounts:profile")).status_code == 200

    reauthenticate(client)
    response = client.post(reverse("mfa_deactivate_totp"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCOUNT_MFA_DISABLED, actor=therapist_without_mfa
    ).exists()
    assert client.get(reverse("home"))["Location"] == reverse("mfa_activate_totp")
