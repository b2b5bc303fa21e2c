"""A therapist runs a whole session in a real browser — a check-in round in which one member
passes, open discussion with a raised hand, a pause, a private note, the end — the members check
out, and afterwards the therapist reads their notes, who came and the check-out answers, by the
links a therapist would follow. Screenshots of each step are kept as test artefacts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect

from chat.models import RoundTurn
from moderation.models import AuditAction, AuditEvent
from tests.chat.conftest import open_session
from tests.e2e.test_room_journey import expect_message, logged_in_page, open_room, say
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots" / "whole-session"


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def turn_order(session) -> list[int]:
    """The user ids in the running round's order (read once the round has started)."""
    connections.close_all()  # Playwright's greenlet opened a connection of its own
    order = list(
        RoundTurn.objects.filter(round__session=session)
        .order_by("position")
        .values_list("participant__user_id", flat=True)
    )
    connections.close_all()
    return order


def test_a_therapist_runs_a_whole_session_and_reads_the_records_afterwards(
    live_server_url, browser, therapist
):
    group = make_group(therapist, title="Thursday circle")
    alice = make_member(group, pseudonym="Alice").user
    bob = make_member(group, pseudonym="Bob").user
    session = open_session(group)

    # The therapist goes in from "Groups I lead"; the members from My schedule.
    host = logged_in_page(browser, live_server_url, therapist)
    host.goto(f"{live_server_url}/facilitate/")
    host.get_by_role("link", name="Open the room for Thursday circle").click()
    expect(host.locator("#connection-state")).to_contain_text("Connected", timeout=10_000)
    members = {}
    for user in (alice, bob):
        page = logged_in_page(browser, live_server_url, user)
        open_room(page, live_server_url, session.pk)
        members[user.pk] = page
    expect(host.locator("#people-count")).to_have_text("(3)", timeout=10_000)
    say(host, "Welcome, both of you. Let us start with a check-in.")

    # --- A check-in round: the first speaks, the second passes. ---
    host.select_option("#round-kind", "Check-in")
    host.click("text=Start the round")
    for page in (host, *members.values()):
        expect(page.locator("#round-prompt")).to_have_text("Check-in", timeout=10_000)
    first_id, second_id = turn_order(session)
    first, second = members[first_id], members[second_id]
    expect(first.locator("#round-turn")).to_contain_text("Your turn", timeout=10_000)
    expect(second.locator("#round-turn")).not_to_contain_text("Your turn")
    shot(first, "1-round-your-turn")
    say(first, "A hard week, but I am here.")
    expect(second.locator("#round-turn")).to_contain_text("Your turn", timeout=10_000)
    second.click("#round-pass")
    for page in (host, first, second):
        expect(page.locator("#round")).to_be_hidden(timeout=10_000)

    # --- Open discussion: a hand goes up, the therapist gives the floor. ---
    second.click("#hand-toggle")
    expect(second.locator("#hand-state")).to_contain_text(
        "you are first in the queue", timeout=10_000
    )
    expect(host.locator("#hands-queue li")).to_have_count(1, timeout=10_000)
    shot(host, "2-facilitator-sees-a-raised-hand")
    host.click("#floor-next")
    expect(second.locator("#floor-note")).to_have_text(
        "The facilitator has given you the floor.", timeout=10_000
    )
    expect(host.locator("#hands-queue li")).to_have_count(0, timeout=10_000)
    say(second, "I would like to say something now.")
    expect_message(first, "I would like to say something now.")

    # --- A pause with a note, then the therapist resumes. ---
    host.fill("#pause-note-text", "A two-minute breath.")
    host.select_option("#pause-minutes", "2")
    host.click("text=Pause new messages")
    for page in (first, second):
        expect(page.locator("#pause-text")).to_contain_text("A two-minute breath.", timeout=10_000)
    shot(first, "3-paused")
    host.click("#pause-resume")
    expect(first.locator("#pause-note")).to_be_hidden(timeout=10_000)
    say(first, "Thank you for the breath.")

    # --- A private note, from the room, in a new tab. ---
    with host.context.expect_page() as opened:
        host.click("#notes-link")
    notes = opened.value
    notes.wait_for_load_state()
    notes.get_by_role("textbox", name="Note").fill("One passed in the round, then asked to speak.")
    notes.get_by_role("button", name="Save the note").click()
    expect(notes.locator("main")).to_contain_text("One passed in the round, then asked to speak.")
    notes.close()

    # --- The end: everyone is told once; the members are offered the check-out. ---
    host.once("dialog", lambda dialog: dialog.accept())
    host.click("#end-session")
    for page in (first, second):
        expect(page.locator("#connection-state")).to_have_text(
            "This session has ended. Thank you for being here.", timeout=10_000
        )
        expect(page.locator("#room-status")).to_have_text("Closed")
        expect(page.locator("#presence .presence__name")).to_have_count(0)
        expect(page.locator("#checkout-offer")).to_be_visible()
        # Nothing of the floor outlives the session: no "given the floor", no hand to raise.
        expect(page.locator("#floor-note")).to_be_hidden()
        expect(page.locator("#hand-toggle")).to_be_hidden()
    shot(first, "4-ended-check-out-offered")
    first.get_by_role("link", name="Check out of this session").click()
    first.get_by_label("4: Good").check()
    first.get_by_label("A few words").fill("Lighter than when I came in.")
    first.get_by_role("button", name="Save my answer").click()
    expect(first.locator("main")).to_contain_text("Thank you")
    for page in (host, first, second):
        assert page.errors == [], page.errors

    # --- Afterwards: the therapist reads who came, the notes and the check-out answers. ---
    host.goto(f"{live_server_url}/groups/{group.slug}/manage/")
    host.get_by_role("link", name="Who came").first.click()
    rows = host.locator("tbody tr")
    expect(rows).to_have_count(3)
    names = {alice.pk: "Alice", bob.pk: "Bob"}
    first_row = rows.filter(has_text=names[first_id])
    second_row = rows.filter(has_text=names[second_id])
    # Name, first joined, last left, minutes, messages, turns.
    expect(first_row.locator("td").nth(3)).to_have_text("2")  # the check-in and the thanks
    expect(first_row.locator("td").nth(4)).to_have_text("1")  # spoke in the round
    expect(second_row.locator("td").nth(3)).to_have_text("1")
    expect(second_row.locator("td").nth(4)).to_have_text("1")  # passed
    expect(host.locator("tbody")).not_to_contain_text("still connected")
    shot(host, "5-who-came")
    with host.expect_download() as downloading:
        host.get_by_role("link", name="Download as CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(downloading.value.path()).read_text())))
    by_name = {row["name_in_group"]: row for row in table}
    assert len(table) == 3
    assert (by_name["Alice"]["role"], by_name["Bob"]["role"]) == ("member", "member")
    assert by_name[names[second_id]]["turns_in_rounds"] == "1"

    host.goto(f"{live_server_url}/groups/{group.slug}/manage/")
    host.get_by_role("link", name="Notes").first.click()
    expect(host.locator("main")).to_contain_text("One passed in the round, then asked to speak.")
    host.goto(f"{live_server_url}/groups/{group.slug}/manage/")
    host.get_by_role("link", name="Check-out answers").first.click()
    answers = host.locator(f"#session-{session.pk}")
    expect(answers).to_contain_text(f"{names[first_id]}: 4 of 5 (Good)")
    expect(answers).to_contain_text("Lighter than when I came in.")
    shot(host, "6-check-out-answers")

    connections.close_all()
    read = set(
        AuditEvent.objects.filter(actor=therapist, group_id=group.pk).values_list(
            "action", flat=True
        )
    )
    assert {
        AuditAction.ATTENDANCE_READ,
        AuditAction.ATTENDANCE_EXPORTED,
        AuditAction.NOTES_READ,
        AuditAction.CHECKOUTS_READ,
        AuditAction.ROUND_STARTED,
        AuditAction.SESSION_ENDED,
    } <= read
    connections.close_all()
