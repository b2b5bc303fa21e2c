""" "Get help now" guesses the country from the time zone, and puts one number to call first."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.places import country_for_time_zone

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("zone", "country"),
    [
        ("America/Chicago", "US"),
        ("America/Indiana/Knox", "US"),
        ("Europe/London", "GB"),
        ("Europe/Dublin", "IE"),
        ("Australia/Sydney", "AU"),
        ("Australia/NSW", "AU"),
        ("Asia/Calcutta", "IN"),
        ("UTC", ""),
        ("Mars/Olympus_Mons", ""),
    ],
)
def test_a_time_zone_gives_its_country(zone, country):
    assert country_for_time_zone(zone) == country


def test_a_visitor_in_chicago_sees_the_united_states_first_with_one_number_to_call(client):
    client.cookies["tz"] = "America/Chicago"
    response = client.get(reverse("help"))
    assert response.context["country_groups"][0]["code"] == "US"
    page = response.content.decode()
    first_call = page.index('class="first-call"')
    assert page.index("<h1>") < first_call < page.index("<form")
    assert 'href="tel:988">Call 988 Suicide &amp; Crisis Lifeline: 988</a>' in page
    assert "We showed United States first because of your device's time zone" in page
    assert "We do not have lines for that country yet" not in page


def test_a_logged_in_person_without_a_country_gets_the_guess_from_their_profile_zone(
    client, member
):
    member.time_zone = "Europe/London"
    member.country = ""
    member.save(update_fields=["time_zone", "country"])
    client.force_login(member)
    response = client.get(reverse("help"))
    assert response.context["country_groups"][0]["code"] == "GB"
    assert response.context["guessed"] is True


def test_a_country_the_person_chose_beats_the_guess(client, member):
    member.time_zone = "Europe/London"
    member.country = "IE"
    member.save(update_fields=["time_zone", "country"])
    client.force_login(member)
    response = client.get(reverse("help"))
    assert response.context["country_groups"][0]["code"] == "IE"
    assert "because of your device" not in response.content.decode()
    client.cookies["tz"] = "America/Chicago"
    response = client.get(reverse("help"), {"country": "au"})
    assert response.context["country_groups"][0]["code"] == "AU"


def test_with_no_zone_to_go_on_every_country_is_listed_with_no_button_first(client):
    response = client.get(reverse("help"))
    page = response.content.decode()
    assert response.context["first_line"] is None and 'class="first-call"' not in page
    assert "data-depends-on-time-zone" in page


def test_a_guess_we_have_no_lines_for_is_not_a_guess(client):
    client.cookies["tz"] = "Asia/Tokyo"
    response = client.get(reverse("help"))
    page = response.content.decode()
    assert response.context["country"] == "" and response.context["first_line"] is None
    assert "We do not have lines for that country yet" not in page
