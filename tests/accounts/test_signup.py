"""The sign-up → verify → login journey, through allauth as a person would walk it."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import User
from moderation.models import AuditAction, AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

SIGNUP = {
    "email": "new.person@example.com",
    "display_name": "Morning Heron",
    "password1": "a-long-calm-password-7",
    "password2": "a-long-calm-password-7",
    "time_zone": "America/New_York",
}


def test_signup_page_suggests_a_friendly_display_name(client):
    response = client.get(reverse("account_signup"))
    assert response.status_code == 200
    suggested = response.context["form"].initial["display_name"]
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+ \d\d", suggested)
    assert f'value="{suggested}"' in response.content.decode()


def test_a_new_person_signs_up_verifies_their_email_and_logs_in(client):
    response = client.post(reverse("account_signup"), SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")

    user = User.objects.get(email="new.person@example.com")
    assert user.display_name == "Morning Heron"
    assert user.time_zone == "America/New_York"
    assert AuditEvent.objects.filter(
        action=AuditAction.ACCOUNT_SIGNED_UP, actor=user, target_id=str(user.pk)
    ).exists()

    # Unverified: logging in is refused until the email is confirmed.
    client.logout()
    response = client.post(
        reverse("account_login"), {"login": SIGNUP["email"], "password": SIGNUP["password1"]}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session

    assert len(mail.outbox) >= 1
    message = mail.outbox[-1]
    assert message.to == ["new.person@example.com"]
    assert "Morning Heron" not in message.subject
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", message.body).group(1)
    response = client.get(link)
    assert response.status_code == 200
    response = client.post(link)
    assert response.status_code == 302

    response = client.post(
        reverse("account_login"),
        {"login": "NEW.person@example.com", "password": SIGNUP["password1"]},
    )
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert (
        AuditEvent.objects.filter(action=AuditAction.ACCOUNT_LOGIN_SUCCEEDED, actor=user).count()
        == 1
    )


def test_signup_refuses_a_display_name_that_is_taken_ignoring_case(client):
    UserFactory(display_name="Morning Heron")
    response = client.post(reverse("account_signup"), {**SIGNUP, "display_name": "morning  HERON"})
    assert response.status_code == 200
    assert "Someone already uses that name" in response.content.decode()
    assert not User.objects.filter(email=SIGNUP["email"]).exists()


@pytest.mark.parametrize(
    ("display_name", "message"),
    [
        ("me@example.com", "looks like an email address"),
        ("call 07700 900123", "looks like a phone number"),
        ("visit www.mysite", "looks like a web address"),
        ("Facilitator", "kept for Hearth itself"),
        ("ab", "at least 3 characters"),
    ],
)
def test_signup_explains_why_a_display_name_is_refused(client, display_name, message):
    response = client.post(reverse("account_signup"), {**SIGNUP, "display_name": display_name})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email=SIGNUP["email"]).exists()


def test_signup_refuses_an_unknown_time_zone_kindly(client):
    response = client.post(reverse("account_signup"), {**SIGNUP, "time_zone": "Mars/Olympus"})
    assert response.status_code == 200
    assert "We do not recognise that time zone" in response.content.decode()


def test_signup_with_an_existing_email_does_not_reveal_the_account(client):
    UserFactory(email="taken@example.com")
    response = client.post(
        reverse("account_signup"),
        {**SIGNUP, "email": "taken@example.com", "display_name": "Other Name"},
    )
    # Enumeration is prevented: the same "check your email" step as a fresh sign-up.
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1


def test_a_failed_login_is_audited_by_account_id_without_the_address(client):
    person = UserFactory(email="known@example.com")
    response = client.post(
        reverse("account_login"), {"login": "known@example.com", "password": "wrong-password"}
    )
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_LOGIN_FAILED)
    assert event.actor is None
    assert event.target_id == str(person.pk)
    assert event.ip_address == "127.0.0.1"
    assert "known@example.com" not in str(event.details)


def test_password_reset_sends_a_neutral_email_and_a_working_link(client):
    UserFactory(email="forgetful@example.com")
    response = client.post(reverse("account_reset_password"), {"email": "forgetful@example.com"})
    assert response.status_code == 302
    message = mail.outbox[-1]
    assert message.subject.startswith("[Hearth]")
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/[^\s]+/)", message.body).group(
        1
    )
    response = client.get(link, follow=True)
    assert response.status_code == 200
    response = client.post(
        response.redirect_chain[-1][0] if response.redirect_chain else link,
        {"password1": "a-brand-new-password-9", "password2": "a-brand-new-password-9"},
    )
    assert response.status_code == 302
    assert client.login(email="forgetful@example.com", password="a-brand-new-password-9")


def test_password_reset_for_an_unknown_address_looks_the_same(client):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_reset_password_done")


def test_the_known_persona_password_works(member, client):
    assert client.login(email=member.email, password=PASSWORD)
