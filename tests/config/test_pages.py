"""The public pages: calm, reachable without an account, with help one click away."""

from __future__ import annotations

import pytest
from django.urls import reverse

from moderation.models import CrisisLine

pytestmark = pytest.mark.django_db

PUBLIC = ["home", "how_it_works", "guidelines", "help", "account_login", "account_signup"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_pages_open_for_anyone_with_get_help_now_on_them(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    page = response.content.decode()
    assert f'href="{reverse("help")}"' in page
    assert "Get help now" in page


@pytest.mark.parametrize("name", ["home", "accounts:profile", "account_email", "guidelines"])
def test_logged_in_pages_have_get_help_now_too(client, member, name):
    client.force_login(member)
    page = client.get(reverse(name)).content.decode()
    assert f'href="{reverse("help")}"' in page


def test_the_home_page_explains_how_a_group_differs_from_a_chat_room(client):
    page = client.get(reverse("home")).content.decode().lower()
    for idea in ("facilitator", "private message", "display name", "guidelines"):
        assert idea in page


def test_help_shows_the_persons_own_country_first(client, member):
    member.country = "US"
    member.save(update_fields=["country"])
    client.force_login(member)
    groups = client.get(reverse("help")).context["country_groups"]
    assert groups[0]["code"] == "US"
    assert groups[1]["code"] == CrisisLine.INTERNATIONAL
    assert "988 Suicide & Crisis Lifeline" in [line.name for line in groups[0]["lines"]]


def test_help_lets_a_visitor_choose_a_country(client):
    response = client.get(reverse("help"), {"country": "gb"})
    assert response.context["country_groups"][0]["code"] == "GB"
    assert "116 123" in response.content.decode()


def test_help_survives_a_nonsense_country(client):
    response = client.get(reverse("help"), {"country": "<script>alert(1)</script>"})
    assert response.status_code == 200
    assert "<script>alert" not in response.content.decode()


def test_inactive_lines_are_hidden(client):
    CrisisLine.objects.filter(name="Shout").update(is_active=False)
    page = client.get(reverse("help"), {"country": "GB"}).content.decode()
    assert "Shout" not in page and "Samaritans" in page


def test_staff_edit_crisis_lines_in_the_admin(client, staff_user):
    client.force_login(staff_user)
    line = CrisisLine.objects.get(name="Samaritans")
    response = client.get(reverse("admin:moderation_crisisline_change", args=[line.pk]))
    assert response.status_code == 200


def test_a_crisis_line_needs_a_way_to_reach_it():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        CrisisLine.objects.create(country="GB", name="Nothing")


def test_unsafe_methods_on_read_only_pages_are_refused(client):
    assert client.post(reverse("help")).status_code == 405
    assert client.post(reverse("home")).status_code == 405


def test_ping_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(reverse("ping"))
    assert response.content == b"ok"
    assert "no-cache" in response["Cache-Control"]
