"""The login library's pages speak in Hearth's layout and words, not allauth's."""

from __future__ import annotations

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.urls import reverse

from tests.conftest import login_with_password, reauthenticate
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIBRARY_WORDS = ["Sign Up", "Sign In", "Sign Out", "Signup", "sign in", "sign up", "Two-Factor"]
LIBRARY_WORDS += ["two-factor", "Authenticator App", "Confirm Access", "Reset My Password"]


def assert_in_hearths_voice(response, *words: str) -> None:
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="site-header"' in page and "Skip to content" in page
    for word in words:
        assert word in page, word
    heard = [word for word in LIBRARY_WORDS if word in page]
    assert heard == []


def test_the_login_page_says_log_in_and_offers_to_join(client):
    response = client.get(reverse("account_login"))
    assert_in_hearths_voice(response, "<title>Log in · Hearth</title>", "Join Hearth")


def test_the_signup_page_says_join_hearth(client):
    response = client.get(reverse("account_signup"))
    assert_in_hearths_voice(response, "<title>Join Hearth · Hearth</title>", "Log in")


def test_after_signing_up_the_person_is_asked_to_check_their_email(client):
    response = client.get(reverse("account_email_verification_sent"))
    assert_in_hearths_voice(response, "Check your email")


def test_the_email_confirmation_link_asks_in_hearths_words(client):
    user = UserFactory()
    address = EmailAddress.objects.create(user=user, email="new@example.org", verified=False)
    key = EmailConfirmationHMAC(address).key
    response = client.get(reverse("account_confirm_email", args=[key]))
    assert_in_hearths_voice(response, "Confirm your email address", "Confirm my email address")


def test_an_expired_confirmation_link_says_so_kindly(client):
    response = client.get(reverse("account_confirm_email", args=["nonsense"]))
    assert_in_hearths_voice(response, "This link has expired or was already used")


def test_the_password_reset_pages_speak_hearths_words(client):
    assert_in_hearths_voice(
        client.get(reverse("account_reset_password")), "Forgotten your password?"
    )
    assert_in_hearths_voice(client.get(reverse("account_reset_password_done")), "Check your email")
    assert_in_hearths_voice(
        client.get(reverse("account_reset_password_from_key_done")), "Password changed"
    )


def test_a_password_reset_link_asks_for_a_new_password_or_says_it_no_longer_works(client):
    user = UserFactory()
    key = default_token_generator.make_token(user)
    url = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": key},
    )
    response = client.get(url, follow=True)
    assert_in_hearths_voice(response, "Choose a new password", "Save my new password")
    bad = reverse(
        "account_reset_password_from_key", kwargs={"uidb36": user_pk_to_url_str(user), "key": "x-y"}
    )
    assert_in_hearths_voice(client.get(bad, follow=True), "This link no longer works")


def test_logging_out_asks_in_hearths_words(client, member):
    client.force_login(member)
    response = client.get(reverse("account_logout"))
    assert_in_hearths_voice(response, "<title>Log out · Hearth</title>")


def test_the_password_pages_speak_hearths_words(client, member):
    client.force_login(member)
    response = client.get(reverse("account_change_password"))
    assert_in_hearths_voice(response, "Change your password", "Save my new password")
    member.set_unusable_password()
    member.save(update_fields=["password"])
    client.force_login(member)
    assert_in_hearths_voice(client.get(reverse("account_set_password")), "Choose a password")


def test_confirming_it_is_you_speaks_hearths_words(client, therapist):
    client.force_login(therapist)
    assert_in_hearths_voice(client.get(reverse("account_reauthenticate")), "Confirm it is you")
    assert_in_hearths_voice(client.get(reverse("mfa_reauthenticate")), "Confirm it is you")


def test_the_second_step_of_logging_in_is_called_two_step_login(client, therapist):
    response = client.post(
        reverse("account_login"), {"login": therapist.email, "password": PASSWORD}
    )
    assert response["Location"] == reverse("mfa_authenticate")
    assert_in_hearths_voice(client.get(reverse("mfa_authenticate")), "Two-step login", "Log in")


def test_the_two_step_login_pages_speak_hearths_words(client, member, therapist_without_mfa):
    login_with_password(client, member)
    assert_in_hearths_voice(client.get(reverse("mfa_index")), "Two-step login is off")
    reauthenticate(client)
    assert_in_hearths_voice(client.get(reverse("mfa_activate_totp")), "Turn on two-step login")


def test_the_pages_for_someone_with_two_step_login_speak_hearths_words(client, therapist):
    RecoveryCodes.activate(therapist)
    client.force_login(therapist)
    reauthenticate(client)
    assert_in_hearths_voice(client.get(reverse("mfa_index")), "Two-step login is on")
    assert_in_hearths_voice(client.get(reverse("mfa_deactivate_totp")), "Turn off two-step login")
    assert_in_hearths_voice(client.get(reverse("mfa_view_recovery_codes")), "Recovery codes")
    assert_in_hearths_voice(
        client.get(reverse("mfa_generate_recovery_codes")), "Make new recovery codes"
    )
