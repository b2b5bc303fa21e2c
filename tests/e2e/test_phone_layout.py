"""On a phone the header menu folds away and the directory shows groups before its filters;
screenshots of both sizes are kept under test-results/."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.e2e.accessibility import DESKTOP, PHONE
from tests.factories import make_group, make_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


@pytest.fixture
def listed(therapist):
    for i in range(3):
        make_session(make_group(therapist, title=f"Circle {i}"), days_ahead=2 + i)


def test_on_a_phone_the_menu_folds_and_the_first_screen_shows_a_group(
    live_server_url, browser, listed
):
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(live_server_url + reverse("groups:directory"))
    nav = page.locator("#site-nav")
    toggle = page.get_by_role("button", name="Menu")
    expect(toggle).to_be_visible()
    expect(nav).to_be_hidden()
    first_card = page.locator(".group-card").first
    box = first_card.bounding_box()
    assert box is not None and box["y"] < PHONE["height"], box
    shoot(page, "directory-phone")
    toggle.click()
    expect(nav).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="How it works")).to_be_visible()
    shoot(page, "directory-phone-menu")
    # The filters are one tap away.
    page.get_by_text("Narrow the list").click()
    expect(page.get_by_label("Topic")).to_be_visible()


def test_on_a_desktop_the_menu_and_filters_show_at_once(live_server_url, browser, listed):
    page = browser.new_context(viewport=DESKTOP).new_page()
    page.goto(live_server_url + reverse("groups:directory"))
    expect(page.locator("#site-nav")).to_be_visible()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_label("Topic")).to_be_visible()
    shoot(page, "directory-desktop")


def test_a_phone_with_a_filter_chosen_keeps_the_filters_open(live_server_url, browser, listed):
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(live_server_url + reverse("groups:directory") + "?language=en")
    expect(page.get_by_label("Topic")).to_be_visible()
