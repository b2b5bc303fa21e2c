"""A visitor's browser in New York sees the directory's times in New York, from the first page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.roles import Role
from groups.scheduling import to_local
from tests.factories import UserFactory, add_totp, make_group, make_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_visitor_sees_times_in_their_browsers_zone_at_once(browser, live_server_url):
    therapist = UserFactory(roles=[Role.THERAPIST])
    add_totp(therapist)
    group = make_group(therapist, time_zone="Europe/London")
    session = make_session(group, days_ahead=10, hour=18)
    context = browser.new_context(timezone_id="America/New_York")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server_url}/groups/{group.slug}/")
    local = to_local(session.starts_at, time_zone="America/New_York")
    expect(page.locator("main")).to_contain_text("Times are shown in America/New_York.")
    expect(page.locator("main")).to_contain_text(local.strftime("%A %-d %B, %H:%M"))
    assert [c["value"] for c in context.cookies() if c["name"] == "tz"] == ["America/New_York"]
    assert errors == []
    context.close()


def test_on_a_phone_get_help_now_shows_one_button_to_call_on_the_first_screen(
    browser, live_server_url
):
    context = browser.new_context(
        timezone_id="America/Chicago",
        viewport={"width": 375, "height": 667},
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.goto(f"{live_server_url}/help/")
    call = page.locator(".first-call a")
    expect(call).to_have_attribute("href", "tel:988")
    box = call.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 667
    assert page.locator("main a[href^='tel:']").first.get_attribute("href") == "tel:988"
    context.close()
