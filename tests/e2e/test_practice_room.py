"""The practice room in a real browser: a first-timer walks the whole guided walk, on a phone
and on a desktop, and nothing they did reaches the database. Screenshots of each size are kept
under test-results/.

The stand-in for the socket is checked here too, in the browser that runs it: what it says on
connecting and in answer to a message has the fields docs/protocol.md documents.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connections
from django.urls import reverse
from playwright.sync_api import expect

from accounts.models import Notification
from chat.models import Attendance, HiddenAuthor, Message, Participant, RaisedHand, Room, Round
from moderation.models import AuditEvent, Report
from tests.chat.conftest import session_cookie
from tests.chat.test_practice_protocol import documented_examples
from tests.e2e.accessibility import DESKTOP, PHONE, axe_or_skip, serious_violations
from tests.e2e.test_accessibility import context_for
from tests.factories import make_group, make_member, make_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"
CONNECTED = re.compile(r"Connected|up to date")
KEPT = (
    Message,
    Participant,
    Attendance,
    Room,
    HiddenAuthor,
    RaisedHand,
    Round,
    Report,
    AuditEvent,
    Notification,
)


def shoot(page, name: str, *, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def rows() -> dict[str, int]:
    connections.close_all()  # Playwright's greenlet opened a connection of its own
    counted = {model.__name__: model.objects.count() for model in KEPT}
    connections.close_all()
    return counted


def logged_in_context(browser, base_url: str, user, viewport, *, bypass_csp: bool = False):
    """A browser logged in as ``user``: under the pages' own Content-Security-Policy unless the
    test must run scripts of its own in them (axe, or a socket of its own)."""
    if bypass_csp:
        return context_for(browser, base_url, user, viewport=viewport)
    context = browser.new_context(viewport=viewport)
    context.add_cookies([{"name": "sessionid", "value": session_cookie(user), "url": base_url}])
    return context


def open_practice(context, base_url: str):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    page.goto(base_url + reverse("chat:practice"))
    expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)
    return page


def practice_page(browser, base_url: str, user, viewport, *, bypass_csp: bool = False):
    context = logged_in_context(browser, base_url, user, viewport, bypass_csp=bypass_csp)
    return open_practice(context, base_url)


def step(page, name: str):
    return page.locator(f'#practice-walk li[data-step="{name}"]')


def expect_done(page, name: str) -> None:
    expect(step(page, name).locator(".practice-step__state")).to_have_text("Done", timeout=10_000)


# Where each step's "Show me" takes the person.
SHOWN = {
    "write": "#message-body",
    "people": "#people-heading",
    "report": "#messages .msg__report >> nth=0",
    "mute": '#presence button[data-action="hide"]',
    "help": ".room-help-now",
    "pinned": "#pinned",
    "round": "#round",
}


def open_walk(page) -> None:
    """On a phone the walk is one of the room's panels: open it from the bar (one tap)."""
    open_panel(page, "walk")
    expect(page.locator("#practice-walk")).to_be_visible()


def press_show(page, name: str) -> None:
    """Press a step's "Show me" (from the walk's panel, on a phone)."""
    open_walk(page)
    page.locator(f'#practice-walk button[data-show="{name}"]').click()


def open_panel(page, name: str) -> None:
    """On a phone, open one of the room's panels from the bar (on a desktop all show)."""
    button = page.locator(f'#room-bar button[data-panel="{name}"]')
    if button.is_visible() and button.get_attribute("aria-expanded") != "true":
        button.click()


def back_to_the_conversation(page) -> None:
    """On a phone, close the panel showing (nothing to do on a desktop)."""
    back = page.locator("#room-side-close")
    if back.is_visible():
        back.click()
    expect(page.locator("#messages")).to_be_visible()


def show_me(page, name: str) -> None:
    """Press the next step's "Show me": its place comes into view (scrolled there smoothly),
    on a phone in the panel it lives in."""
    open_walk(page)
    expect(step(page, name).locator(".practice-step__state")).to_have_text("Next")
    step(page, name).locator("button[data-show]").click()
    expect(page.locator(SHOWN[name])).to_be_in_viewport(ratio=1, timeout=5_000)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_first_timer_walks_the_practice_room_and_nothing_is_kept(
    live_server_url, browser, member, therapist, viewport
):
    group = make_group(therapist, title="Evening circle")
    make_session(group, days_ahead=3)
    make_member(group, member)
    size = "phone" if viewport is PHONE else "desktop"
    context = logged_in_context(browser, live_server_url, member, viewport)
    before = rows()
    page = open_practice(context, live_server_url)
    pseudonym = member.display_name

    # The room itself: a practice notice, you, the pretend guide and Sam, and the walk.
    expect(page.locator("#practice-notice")).to_contain_text("Nobody else is here")
    expect(page.locator("#practice-count")).to_have_text("0 of 7 done")
    expect(step(page, "write").locator(".practice-step__state")).to_have_text("Next")
    expect(page.locator("#messages")).to_contain_text("Welcome to the practice room")
    expect(page.locator("#people-count")).to_have_text("(3)", timeout=10_000)
    shoot(page, f"practice-{size}")

    # 1. Write a message: it shows as yours, and the guide answers.
    show_me(page, "write")
    expect(page.locator("#message-body")).to_be_focused()
    page.fill("#message-body", "Hello, <b>is this thing on?</b>")
    page.click("#send-button")
    expect(page.locator("#message-body")).to_have_value("", timeout=10_000)
    mine = page.locator("#messages li.msg--mine")
    expect(mine).to_contain_text("Hello, <b>is this thing on?</b>")  # text, never markup
    expect(mine).to_contain_text("(you)")
    expect_done(page, "write")
    expect(page.locator("#messages")).to_contain_text("Thank you", timeout=10_000)
    open_walk(page)
    page.locator("#practice-walk").scroll_into_view_if_needed()
    shoot(page, f"practice-{size}-walk")

    # 2. Find yourself in "Who is here".
    show_me(page, "people")
    expect(page.locator("#presence li", has_text="(you)")).to_contain_text(pseudonym)
    expect_done(page, "people")

    # 3. Report explains itself and sends nothing.
    show_me(page, "report")
    report = page.locator("#messages .msg__report").first
    expect(report).to_be_focused()
    report.click()
    dialog = page.locator("#practice-report")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("nothing was sent")
    shoot(page, f"practice-{size}-report")
    dialog.get_by_role("button", name="Back to the practice room").click()
    expect(dialog).to_be_hidden()
    expect_done(page, "report")

    # 4. "Mute for me" hides Sam's messages, for this person only.
    show_me(page, "mute")
    page.get_by_role("button", name="Hide Sam (example)’s messages for me").click()
    expect_done(page, "mute")
    back_to_the_conversation(page)
    sam = page.locator("#messages li", has_text="I am Sam")
    expect(sam).to_be_hidden()
    expect(page.locator("#messages")).to_contain_text("Hello, <b>is this thing on?</b>")
    open_panel(page, "people")
    menu = page.locator("#presence button[data-action='menu']").first
    if menu.get_attribute("aria-expanded") != "true":
        menu.click()
    page.get_by_role("button", name="Show Sam (example)’s messages again").click()
    back_to_the_conversation(page)
    expect(sam).to_be_visible()

    # 5. Get help now is found, and left alone.
    show_me(page, "help")
    expect(page.locator(".room-help-now")).to_be_focused()
    expect(page.locator(".room-help-now")).to_have_attribute("href", reverse("help"))
    expect_done(page, "help")

    # 6. A facilitator's pinned notice.
    show_me(page, "pinned")
    expect(page.locator("#pinned")).to_be_visible()
    expect(page.locator("#pinned-text")).to_contain_text("short pause")
    expect_done(page, "pinned")
    shoot(page, f"practice-{size}-pinned")

    # 7. A round: Sam's turn first (what you write waits), then yours.
    show_me(page, "round")
    expect(page.locator("#round")).to_be_visible()
    expect(page.locator("#round-turn")).to_contain_text("Sam (example)'s turn")
    expect(step(page, "round").locator("button[data-show]")).to_have_text("Go to the round")
    page.fill("#message-body", "Me too?")
    page.click("#send-button")
    expect(page.locator("#send-error")).to_contain_text("your message waits in the box")
    expect(page.locator("#message-body")).to_have_value("Me too?")
    shoot(page, f"practice-{size}-round")
    expect(page.locator("#round-turn")).to_contain_text("Your turn", timeout=10_000)
    page.click("#send-button")
    expect(page.locator("#round")).to_be_hidden(timeout=10_000)
    expect_done(page, "round")

    expect(page.locator("#practice-count")).to_have_text("7 of 7 done")
    open_walk(page)
    expect(page.locator("#practice-finished")).to_be_visible()
    expect(page.locator("#practice-finished a")).to_have_attribute(
        "href", reverse("groups:my_schedule")
    )
    shoot(page, f"practice-{size}-finished", full_page=True)
    assert page.errors == [], page.errors

    # Nothing said or done there was kept; a reload starts again from nothing.
    assert rows() == before
    page.reload()
    expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)
    expect(page.locator("#messages")).not_to_contain_text("is this thing on")
    expect(page.locator("#practice-count")).to_have_text("0 of 7 done")


def test_a_raised_hand_and_a_pass_in_the_round_work_in_practice_too(
    live_server_url, browser, member
):
    page = practice_page(browser, live_server_url, member, DESKTOP, bypass_csp=True)
    page.click("#hand-toggle")
    expect(page.locator("#hand-state")).to_contain_text("first in the queue")
    # The pretend guide gives the floor to a raised hand, and opens it once they have spoken.
    expect(page.locator("#floor-note")).to_have_text(
        "The facilitator has given you the floor.", timeout=10_000
    )
    expect(page.locator("#hand-toggle")).to_have_text("Raise my hand")
    page.fill("#message-body", "Thank you")
    page.click("#send-button")
    expect(page.locator("#floor-note")).to_be_hidden(timeout=10_000)
    page.evaluate("() => window.HearthPracticeSocket.room.startRound()")
    expect(page.locator("#round")).to_be_visible()
    page.click("#round-pass")  # ahead of the turn: allowed, and the round ends after Sam's
    expect(page.locator("#round")).to_be_hidden(timeout=10_000)
    expect_done(page, "round")
    assert page.errors == [], page.errors


def test_the_stand_in_answers_with_the_documented_fields(live_server_url, browser, member):
    page = practice_page(browser, live_server_url, member, DESKTOP, bypass_csp=True)
    events = page.evaluate(
        """async () => {
          const seen = [];
          const socket = new window.HearthPracticeSocket("/practice/?after=0");
          socket.addEventListener("message", (frame) => seen.push(JSON.parse(frame.data)));
          const wait = (test) => new Promise((resolve) => {
            const poll = () => (test() ? resolve() : setTimeout(poll, 20));
            poll();
          });
          await wait(() => seen.some((event) => event.type === "history.end"));
          socket.send(JSON.stringify({type: "message.send",
            client_id: "0b7e8a52-3f7d-4c55-9b8e-2b1d1f3c9a10", body: "Hello"}));
          socket.send(JSON.stringify({type: "control.pin", text: "Mine now"}));
          socket.send(JSON.stringify({type: "hide_author", participant: 2, hidden: true}));
          await wait(() => seen.filter((event) => event.type === "error").length === 2
            && seen.some((event) => event.type === "presence"));
          socket.close();
          return seen;
        }"""
    )
    by_type: dict[str, list[dict]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event)
    documented = documented_examples()
    for kind in ("room.state", "message", "message.ack", "presence"):
        assert set(by_type[kind][0]) == set(documented[kind]), kind
    assert set(by_type["presence"][0]["people"][0]) == set(documented["presence"]["people"][0])
    assert [error["code"] for error in by_type["error"]] == ["forbidden", "facilitator"]
    assert by_type["room.state"][0]["you"]["name"] == member.display_name


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_practice_room_has_no_serious_accessibility_findings(
    live_server_url, browser, member, viewport
):
    axe_or_skip()
    page = practice_page(browser, live_server_url, member, viewport, bypass_csp=True)
    found = serious_violations(page)
    press_show(page, "write")
    page.fill("#message-body", "Hello")
    page.click("#send-button")
    expect_done(page, "write")
    page.locator("#messages .msg__report").first.click()
    found += serious_violations(page)
    page.keyboard.press("Escape")
    press_show(page, "people")
    press_show(page, "mute")
    page.keyboard.press("Enter")  # on the focused "Hide Sam (example)'s messages for me"
    expect_done(page, "mute")
    for name in ("help", "pinned", "round"):
        press_show(page, name)
        # "Show me" brings its place into view a moment later (closing the walk's panel on a
        # phone): wait for it, or the next step's tap on the walk races that and is undone.
        expect(page.locator(SHOWN[name])).to_be_focused()
    expect(page.locator("#round")).to_be_visible()
    expect(page.locator("#pinned")).to_be_visible()
    found += serious_violations(page)  # the walk half done, a notice pinned, a round running
    assert found == []
