"""Times where the person is: people not logged in see times in their browser's zone, named."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from groups.scheduling import to_local
from tests.factories import make_group, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def session(therapist):
    group = make_group(therapist, time_zone="Europe/London")
    return make_session(group, days_ahead=10, hour=18)


def shown(session, zone: str) -> str:
    return to_local(session.starts_at, time_zone=zone).strftime("%A %-d %B, %H:%M")


def test_a_visitor_sees_times_in_their_browsers_zone_with_the_zone_named(client, session):
    client.cookies["tz"] = "America/New_York"
    page = client.get(reverse("groups:detail", args=[session.group.slug])).content.decode()
    assert f"{shown(session, 'America/New_York')}</time>" in page
    assert "Times are shown in America/New_York." in page
    directory = client.get(reverse("groups:directory")).content.decode()
    assert "Times are shown in America/New_York." in directory
    assert "This is the time zone your device uses." in directory


def test_without_the_cookie_a_visitor_sees_utc_named(client, session):
    page = client.get(reverse("groups:detail", args=[session.group.slug])).content.decode()
    assert f"{shown(session, 'UTC')}</time>" in page
    assert "Times are shown in UTC." in page


@pytest.mark.parametrize("cookie", ["Mars/Olympus_Mons", "<script>x</script>", "../../etc", ""])
def test_a_zone_the_server_does_not_know_falls_back_to_utc(client, session, cookie):
    client.cookies["tz"] = cookie
    response = client.get(reverse("groups:detail", args=[session.group.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Times are shown in UTC." in page
    assert "<script>x" not in page


def test_a_logged_in_person_keeps_their_profile_zone_whatever_the_cookie(client, member, session):
    member.time_zone = "Asia/Tokyo"
    member.save(update_fields=["time_zone"])
    client.force_login(member)
    client.cookies["tz"] = "America/New_York"
    page = client.get(reverse("groups:detail", args=[session.group.slug])).content.decode()
    assert f"{shown(session, 'Asia/Tokyo')}</time>" in page
    assert "data-time-zone" not in page


def test_pages_for_visitors_vary_on_the_cookie_and_tell_the_script_their_zone(client, session):
    client.cookies["tz"] = "Europe/Paris"
    response = client.get(reverse("groups:directory"))
    assert "Cookie" in response["Vary"]
    assert '<body data-time-zone="Europe/Paris">' in response.content.decode()


def test_the_directorys_day_filter_means_the_visitors_day(client, session):
    client.cookies["tz"] = "Asia/Tokyo"
    tokyo_day = to_local(session.starts_at, time_zone="Asia/Tokyo").isoweekday()
    london_day = to_local(session.starts_at, time_zone="Europe/London").isoweekday()
    assert tokyo_day != london_day  # 18:00 in London is past midnight in Tokyo
    title = session.group.title
    url = reverse("groups:directory")
    assert title in client.get(url, {"weekday": tokyo_day}).content.decode()
    assert title not in client.get(url, {"weekday": london_day}).content.decode()


def test_shared_anonymous_pages_are_kept_apart_by_zone(session, django_assert_num_queries):
    url = reverse("groups:detail", args=[session.group.slug])
    new_york, tokyo = Client(), Client()
    new_york.cookies["tz"] = "America/New_York"
    tokyo.cookies["tz"] = "Asia/Tokyo"
    new_york.get(url), tokyo.get(url)
    with django_assert_num_queries(0):
        from_cache = new_york.get(url), tokyo.get(url)
    assert [response["X-Cache"] for response in from_cache] == ["hit", "hit"]
    assert f"{shown(session, 'America/New_York')}</time>" in from_cache[0].content.decode()
    assert f"{shown(session, 'Asia/Tokyo')}</time>" in from_cache[1].content.decode()
