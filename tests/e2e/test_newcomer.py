"""A newcomer's first steps, at phone and desktop sizes, as issue 16 asks: from My schedule into
the practice room, then the few questions of "Find a group", the suggested group joined, and its
live session, where the box to write in is on the first screen without scrolling past anything.
Screenshots of each step are kept under test-results/screenshots/newcomer-<size>/."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect

from chat.models import Message
from groups.models import Topic
from tests.chat.conftest import open_session
from tests.e2e.accessibility import DESKTOP, PHONE
from tests.e2e.test_practice_room import logged_in_context
from tests.e2e.test_room_journey import CONNECTED
from tests.factories import accept_guidelines, make_group, make_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"


def in_first_screen(page, selector: str) -> None:
    """Wholly inside the viewport as the page stands (the page itself not scrolled)."""
    expect(page.locator(selector)).to_be_in_viewport(ratio=1)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_newcomer_practises_finds_a_group_joins_and_takes_part(
    live_server_url, browser, therapist, member, viewport
):
    size = "phone" if viewport is PHONE else "desktop"
    shots = SHOTS / f"newcomer-{size}"
    shots.mkdir(parents=True, exist_ok=True)
    grief = Topic.objects.get(slug="grief")
    make_session(make_group(therapist, title="Anxiety mornings"), days_ahead=2, hour=9)
    circle = make_group(therapist, title="Grief circle", topic=grief)
    make_session(circle, days_ahead=7, hour=19)
    session = open_session(circle)
    accept_guidelines(member)
    connections.close_all()

    page = logged_in_context(browser, live_server_url, member, viewport).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # My schedule, with no group yet, offers the practice room.
    page.goto(f"{live_server_url}/schedule/")
    page.get_by_role("link", name="Try the room").first.click()
    expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)
    expect(page.locator("#practice-notice")).to_be_visible()
    in_first_screen(page, "#message-body")
    page.fill("#message-body", "Hello, just trying this out.")
    page.click("#send-button")
    expect(page.locator("#messages li.msg--mine")).to_contain_text("just trying this out")
    page.screenshot(path=str(shots / "1-practice-room.png"))

    # The few questions; the suggestion says why, in plain words.
    page.goto(f"{live_server_url}/find-a-group/")
    page.get_by_label("What would you like support with?").select_option("grief")
    page.get_by_role("button", name="Suggest groups").click()
    first = page.locator(".suggestion-list > li").first
    expect(first).to_contain_text("Grief circle")
    expect(first.locator(".suggestion__reasons")).not_to_be_empty()
    in_first_screen(page, ".suggestion-list > li:first-child .group-card__title")  # no scrolling
    page.screenshot(path=str(shots / "2-suggestions.png"), full_page=True)

    # Join the suggested group.
    first.get_by_role("link", name="Grief circle").click()
    page.get_by_role("button", name="Join this group").click()
    expect(page.get_by_role("main")).to_contain_text("You are a member")
    page.screenshot(path=str(shots / "3-joined.png"), full_page=True)

    # Into the live session: the conversation and the box to write in fill the first screen.
    page.goto(f"{live_server_url}/schedule/")
    page.get_by_role("link", name="Join the room for Grief circle").click()
    expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)
    for selector in ("#message-body", "#send-button", "#messages"):
        in_first_screen(page, selector)
    page.fill("#message-body", "Hello everyone, I am new here.")
    page.click("#send-button")
    expect(page.locator("#messages")).to_contain_text("I am new here", timeout=10_000)
    in_first_screen(page, "#message-body")
    page.screenshot(path=str(shots / "4-in-the-session.png"))

    connections.close_all()
    assert list(Message.objects.filter(session=session).values_list("body", flat=True)) == [
        "Hello everyone, I am new here."
    ]  # and nothing from the practice room
    connections.close_all()
    assert errors == []
