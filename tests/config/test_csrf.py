"""The page's CSRF token (config/csrf.py): masked afresh for each page with a uniformly random
mask, and accepted by Django's CSRF check as Django's own token is."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
from django.test import Client
from django.urls import reverse

from config.csrf import mask_secret

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def page_token(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    found = TOKEN.search(response.content.decode())
    assert found, f"no CSRF field on {url}"
    return found.group(1)


def test_the_token_a_page_prints_passes_the_csrf_check_and_changes_each_page(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    first = page_token(client, reverse("groups:my_schedule"))
    second = page_token(client, reverse("groups:my_schedule"))
    assert first != second  # a fresh mask each time (BREACH)
    assert len(first) == 2 * CSRF_SECRET_LENGTH and set(first) <= set(CSRF_ALLOWED_CHARS)

    response = client.post(reverse("account_logout"), {"csrfmiddlewaretoken": first})

    assert response.status_code == 302
    assert "_auth_user_id" not in client.session


def test_a_token_for_another_secret_is_refused(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    page_token(client, reverse("groups:my_schedule"))  # the client now holds its cookie
    other = mask_secret("a" * CSRF_SECRET_LENGTH)

    response = client.post(reverse("account_logout"), {"csrfmiddlewaretoken": other})

    assert response.status_code == 403
    assert "_auth_user_id" in client.session


def test_a_first_visit_without_a_csrf_cookie_gets_one_that_matches_its_token(member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    client.cookies.pop("csrftoken", None)
    response = client.get(reverse("groups:my_schedule"))
    assert "csrftoken" in response.cookies
    token = TOKEN.search(response.content.decode()).group(1)

    assert client.post(reverse("account_logout"), {"csrfmiddlewaretoken": token}).status_code == 302


def test_the_mask_is_uniform_over_the_allowed_characters():
    """Bytes taken modulo 62 without dropping those from 248 up would make the first eight
    characters a quarter more likely than the rest; this finds that by many standard
    deviations and passes an unbiased mask by as many."""
    secret = "b" * CSRF_SECRET_LENGTH
    counts = Counter(
        char for _ in range(20_000) for char in mask_secret(secret)[:CSRF_SECRET_LENGTH]
    )
    expected = 20_000 * CSRF_SECRET_LENGTH / len(CSRF_ALLOWED_CHARS)
    assert set(counts) == set(CSRF_ALLOWED_CHARS)
    assert all(abs(count - expected) < 0.1 * expected for count in counts.values()), counts
