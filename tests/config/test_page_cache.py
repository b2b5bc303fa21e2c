"""The public pages are shared between anonymous visitors, and never anyone else's page."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from groups import services
from tests.factories import accept_guidelines, make_group, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_group(therapist):
    group = make_group(therapist, title="Evening calm")
    make_session(group, days_ahead=3)
    return group


def test_an_anonymous_visitor_gets_the_directory_from_the_cache_without_a_query(
    client, open_group, django_assert_num_queries
):
    first = client.get(reverse("groups:directory"))
    with django_assert_num_queries(0):
        second = client.get(reverse("groups:directory"))
    assert second.status_code == 200
    assert second.content == first.content
    assert "Evening calm" in second.content.decode()
    assert second["Content-Security-Policy"] == first["Content-Security-Policy"]


@pytest.mark.parametrize("name", ["home", "how_it_works"])
def test_the_static_public_pages_are_shared_too(client, name, django_assert_num_queries):
    first = client.get(reverse(name))
    with django_assert_num_queries(0):
        second = client.get(reverse(name))
    assert "X-Cache" not in first
    assert second["X-Cache"] == "hit"
    assert second.content == first.content


def test_a_groups_page_is_shared_and_forgotten_when_the_group_changes(
    client, open_group, therapist, django_assert_num_queries
):
    url = reverse("groups:detail", args=[open_group.slug])
    client.get(url)
    with django_assert_num_queries(0):
        client.get(url)
    services.group_update(actor=therapist, group=open_group, title="Morning calm")
    page = client.get(url).content.decode()
    assert "Morning calm" in page
    assert "Evening calm" not in page


def test_a_new_member_changes_the_places_anonymous_visitors_see(client, open_group, member):
    url = reverse("groups:detail", args=[open_group.slug])
    before = client.get(url).content.decode()
    accept_guidelines(member)
    services.enrollment_create(actor=member, group=open_group, pseudonym="Quiet Fern")
    after = client.get(url).content.decode()
    assert after != before


def test_a_logged_in_persons_page_is_neither_stored_nor_served_from_the_cache(
    client, open_group, member, django_assert_num_queries
):
    anonymous = Client()
    anonymous.get(reverse("groups:directory"))  # stored
    client.force_login(member)
    mine = client.get(reverse("groups:directory"))
    assert "Log out" in mine.content.decode()
    assert mine["Cache-Control"].count("no-store") == 1
    # Nothing of the logged-in page went into the cache: the anonymous page is still served.
    with django_assert_num_queries(0):
        shared = anonymous.get(reverse("groups:directory"))
    assert "Log out" not in shared.content.decode()


def test_a_visitor_with_any_other_cookie_gets_a_page_of_their_own(client, open_group):
    client.get(reverse("groups:directory"))
    client.cookies["tracking"] = "x"
    response = client.get(reverse("groups:directory"))
    # Rendered for them (its list may still be the shared part everyone sees: that part
    # holds nothing of one person's, tests/groups/test_shared_parts.py).
    assert "X-Cache" not in response
    assert "Evening calm" in response.content.decode()


def test_the_query_string_is_part_of_the_key(client, therapist):
    make_session(make_group(therapist, title="Spanish circle", language="es"), days_ahead=2)
    make_session(make_group(therapist, title="English circle", language="en"), days_ahead=4)
    everything = client.get(reverse("groups:directory")).content.decode()
    spanish = client.get(reverse("groups:directory") + "?language=es").content.decode()
    assert "English circle" in everything
    assert "Spanish circle" in spanish
    assert "English circle" not in spanish


def test_a_page_that_uses_the_csrf_token_is_not_stored(client, therapist, settings):
    settings.ROOT_URLCONF = "tests.config.page_cache_urls"
    first = client.get("/form/")
    assert first.cookies.get(settings.CSRF_COOKIE_NAME)
    second = Client().get("/form/")
    assert "X-Cache" not in second
    assert second.cookies.get(settings.CSRF_COOKIE_NAME)  # rendered again, with its own token


def test_nothing_is_shared_when_the_cache_is_off(client, open_group, settings):
    settings.PAGE_CACHE_SECONDS = 0
    client.get(reverse("groups:directory"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("groups:directory"))
    assert len(queries) > 0


def test_the_page_cache_sits_outside_everything_that_reads_the_login():
    order = settings.MIDDLEWARE
    cache = order.index("config.page_cache.AnonymousPageCacheMiddleware")
    assert cache < order.index("django.contrib.sessions.middleware.SessionMiddleware")
    assert order.index("django.middleware.security.SecurityMiddleware") < cache
