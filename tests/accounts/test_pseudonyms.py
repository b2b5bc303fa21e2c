from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.pseudonyms import normalize_display_name, suggest_display_name, validate_display_name
from accounts.selectors import display_name_suggestion
from moderation.models import AuditAction, AuditEvent
from tests.factories import UserFactory


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("someone@mail.org", "email"),
        ("jo at gmail dot com", "email"),
        ("+44 7700 900 123", "phone"),
        ("555-123-4567", "phone"),
        ("https://me.example", "link"),
        ("www.example", "link"),
        ("find me on insta.com", "link"),
        ("Admin", "reserved"),
        ("  staff ", "reserved"),
        ("a former member", "reserved"),
        ("Zo", "too_short"),
        ("x" * 41, "too_long"),
        ("<script>", "characters"),
    ],
)
def test_display_names_that_identify_or_impersonate_are_refused(name, code):
    with pytest.raises(ValidationError) as caught:
        validate_display_name(name)
    assert caught.value.code == code


@pytest.mark.parametrize("name", ["Quiet Otter 27", "Anne-Marie", "O'Brien", "Jo B.", "Zoë"])
def test_ordinary_display_names_are_accepted(name):
    validate_display_name(name)


def test_normalizing_folds_spaces():
    assert normalize_display_name("  Quiet   Otter ") == "Quiet Otter"


def test_suggestions_are_valid_names():
    for _ in range(50):
        validate_display_name(suggest_display_name())


@pytest.mark.django_db
def test_a_suggestion_is_never_a_name_already_taken(monkeypatch):
    names = iter(["Calm Moss 11", "Calm Moss 11", "Warm Tide 12"])
    monkeypatch.setattr("accounts.selectors.suggest_display_name", lambda: next(names))
    UserFactory(display_name="calm moss 11")
    assert display_name_suggestion() == "Warm Tide 12"


@pytest.mark.django_db
def test_the_database_refuses_two_names_differing_only_in_case():
    UserFactory(display_name="River Stone")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(display_name="RIVER STONE")


@pytest.mark.django_db
def test_a_person_changes_their_display_name_and_time_zone(client, member):
    client.force_login(member)
    response = client.post(
        reverse("accounts:profile"),
        {"display_name": "Golden  Finch", "time_zone": "Asia/Tokyo", "country": "JP"},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.display_name, member.time_zone, member.country) == (
        "Golden Finch",
        "Asia/Tokyo",
        "JP",
    )
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_PROFILE_CHANGED)
    assert event.details == {"fields": ["display_name", "time_zone", "country"]}


@pytest.mark.django_db
def test_the_profile_form_explains_every_bad_input(client, member, outsider):
    client.force_login(member)
    response = client.post(
        reverse("accounts:profile"),
        {
            "display_name": outsider.display_name.upper(),
            "time_zone": "Nowhere/Land",
            "country": "XX",
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Someone already uses that name" in page
    assert "We do not recognise that time zone" in page
    assert "Select a valid choice" in page
    member.refresh_from_db()
    assert member.display_name == "Quiet Otter"


@pytest.mark.django_db
def test_the_profile_page_needs_a_login(client):
    response = client.get(reverse("accounts:profile"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
