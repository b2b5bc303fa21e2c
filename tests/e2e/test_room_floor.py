"""A facilitator runs a check-in round with two members, one of whom passes, then a pause,
in a real browser: who has the floor is plain, refused words stay in the box."""

from __future__ import annotations

import pytest
from django.db import connections
from playwright.sync_api import expect

from chat.models import RoundTurn
from tests.chat.conftest import open_session
from tests.e2e.accessibility import DESKTOP, PHONE, axe_or_skip, serious_violations
from tests.e2e.test_accessibility import context_for
from tests.e2e.test_room_journey import expect_message, logged_in_page, open_room, say
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_check_in_round_with_a_pass_then_a_pause(live_server_url, browser, therapist):
    group = make_group(therapist, title="Evening circle")
    alice = make_member(group).user
    bob = make_member(group).user
    session = open_session(group)
    host = logged_in_page(browser, live_server_url, therapist)
    pages = {alice.pk: logged_in_page(browser, live_server_url, alice)}
    pages[bob.pk] = logged_in_page(browser, live_server_url, bob)
    for page in (host, *pages.values()):
        open_room(page, live_server_url, session.pk)
    expect(host.locator("#people-count")).to_have_text("(3)", timeout=10_000)

    host.select_option("#round-kind", "Check-in")
    host.click("text=Start the round")
    for page in (host, *pages.values()):
        expect(page.locator("#round")).to_be_visible(timeout=10_000)
        expect(page.locator("#round-prompt")).to_have_text("Check-in")
    connections.close_all()  # Playwright's greenlet opened a connection of its own
    order = list(
        RoundTurn.objects.filter(round__session=session)
        .order_by("position")
        .values_list("participant__user_id", "participant__name")
    )
    connections.close_all()
    (first_id, first_name), (second_id, _) = order
    first, second = pages[first_id], pages[second_id]
    expect(first.locator("#round-turn")).to_contain_text("Your turn")
    expect(first.locator("#room-announcer")).to_contain_text("Your turn", timeout=5_000)

    # The second person writes too early: refused kindly, and the words stay in the box.
    second.fill("#message-body", "Can I go now?")
    second.click("#send-button")
    expect(second.locator("#send-error")).to_contain_text(f"It is {first_name}'s turn")
    expect(second.locator("#message-body")).to_have_value("Can I go now?")

    say(first, "Tired, but glad to be here.")
    expect(second.locator("#round-turn")).to_contain_text("Your turn", timeout=10_000)
    second.click("#round-pass")
    for page in (host, first, second):
        expect(page.locator("#round")).to_be_hidden(timeout=10_000)

    # A pause: members see it, a send is refused and kept; after the resume it goes.
    host.fill("#pause-note-text", "A two-minute breath.")
    host.select_option("#pause-minutes", "2")
    host.click("text=Pause new messages")
    expect(second.locator("#pause-note")).to_be_visible(timeout=10_000)
    expect(second.locator("#pause-text")).to_contain_text("A two-minute breath.")
    second.click("#send-button")
    expect(second.locator("#send-error")).to_contain_text("paused")
    expect(second.locator("#message-body")).to_have_value("Can I go now?")
    host.click("#pause-resume")
    expect(second.locator("#pause-note")).to_be_hidden(timeout=10_000)
    second.click("#send-button")
    expect(second.locator("#message-body")).to_have_value("", timeout=10_000)
    expect_message(first, "Can I go now?")
    for page in (host, first, second):
        assert page.errors == [], page.errors


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_floor_has_no_serious_accessibility_findings(
    live_server_url, browser, therapist, viewport
):
    """A round running, a hand raised and a pause, as a member and as the facilitator see
    them."""
    axe_or_skip()
    group = make_group(therapist, title="Evening circle")
    member = make_member(group).user
    make_member(group)
    session = open_session(group)
    pages = {}
    for person in (member, therapist):
        page = context_for(browser, live_server_url, person, viewport=viewport).new_page()
        open_room(page, live_server_url, session.pk)
        pages[person.pk] = page
    host, guest = pages[therapist.pk], pages[member.pk]
    if viewport is PHONE:  # the hand and the controls are a tap away, in place of the talk
        guest.get_by_role("button", name="Who is here").click()
        host.get_by_role("button", name="Facilitator controls").click()
    guest.click("#hand-toggle")
    expect(host.locator("#hands-queue li")).to_have_count(1, timeout=10_000)
    if viewport is PHONE:
        guest.keyboard.press("Escape")  # back to the conversation, where the round shows
    host.click("text=Start the round")
    expect(guest.locator("#round")).to_be_visible(timeout=10_000)
    host.click("text=Pause new messages")
    expect(guest.locator("#pause-note")).to_be_visible(timeout=10_000)
    found = serious_violations(host) + serious_violations(guest)
    assert found == []
