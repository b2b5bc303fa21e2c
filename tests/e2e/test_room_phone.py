"""The live room made for phones (issue 16), in a real browser at phone and desktop sizes: the
first screen shows the conversation's last message and the box to write in, "Who is here",
the controls and help are one tap away, a person's options sit behind their name, and new
messages from others are told to screen readers in a few words, the history never.
Screenshots are kept under test-results/screenshots."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.db import connections
from django.utils import timezone
from playwright.sync_api import expect

from chat.selectors import room_access
from chat.services import message_post, room_join
from tests.chat.conftest import open_session
from tests.e2e.accessibility import PHONE, axe_or_skip, serious_violations
from tests.e2e.test_accessibility import context_for
from tests.e2e.test_phone_layout import shoot
from tests.e2e.test_room_journey import CONNECTED, logged_in_page, open_room, say
from tests.factories import accept_guidelines, make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DESKTOP = {"width": 1280, "height": 800}
SIZES = pytest.mark.parametrize("size", ["phone", "desktop"])


def room_page(browser, base_url: str, user, size: str):
    if size == "phone":
        page = logged_in_page(
            browser, base_url, user, viewport=PHONE, is_mobile=True, has_touch=True
        )
    else:
        page = logged_in_page(browser, base_url, user, viewport=DESKTOP)
    page.phone = size == "phone"
    return page


def press(page, locator) -> None:
    """A tap on a phone, a click elsewhere."""
    if page.phone:
        locator.tap()
    else:
        locator.click()


@pytest.fixture
def busy_room(therapist, settings):
    """An open room with three members, two of whom have said a good deal already."""
    settings.CHAT_RATE_LIMIT_BURST = 1000
    accept_guidelines(therapist)  # as a facilitator would have, long before
    group = make_group(
        therapist, title="Tuesday evening circle for carers", agreement="We listen first."
    )
    alice, bob, carol = (make_member(group).user for _ in range(3))
    session = open_session(group)
    now = timezone.now()
    for person in (alice, bob):
        access = room_access(user=person, session_id=session.pk, now=now)
        room_join(access=access, channel_name=f"seed-{person.pk}", now=now)
    for i in range(1, 13):
        message_post(
            actor=alice if i % 2 else bob,
            session_id=session.pk,
            body=f"Message {i}: " + "a few words about the week, " * (1 + i % 3),
            client_id=uuid.uuid4(),
        )
    bob_name = bob.enrollments.get().pseudonym
    connections.close_all()  # Playwright's greenlet would otherwise share this connection
    return {"session": session, "alice": alice, "bob": bob, "carol": carol, "bob_name": bob_name}


def expect_first_screen(page, last_text: str) -> None:
    """The last message, the box to write in, Send and "Get help now" are all on the screen
    as it opened, with nothing scrolled."""
    last = page.locator("#messages li").last
    expect(last).to_contain_text(last_text)
    expect(last.locator(".msg__body")).to_be_in_viewport(ratio=1)
    expect(last).to_be_in_viewport(ratio=0.9)  # a part of a pixel may be scrolled under
    expect(page.locator("#message-body")).to_be_in_viewport(ratio=1)
    expect(page.locator("#send-button")).to_be_in_viewport(ratio=1)
    expect(page.locator(".site-header .help-now")).to_be_in_viewport(ratio=1)
    viewport = page.viewport_size
    for target in ("#send-button", "#message-body", ".site-header .help-now"):
        box = page.locator(target).bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]


def enter(browser, base_url: str, user, session, size: str, shot: str):
    """``user``'s page of the room once everyone is listed, as it first shows (kept as the
    screenshot ``shot``), with the newest message and the box to write in on that screen."""
    page = room_page(browser, base_url, user, size)
    open_room(page, base_url, session.pk)
    expect(page.locator("#people-count")).to_have_text("(3)", timeout=10_000)
    shoot(page, shot)
    expect_first_screen(page, "Message 12")
    return page


def open_panel(page, button: str, shows: str, heading: str):
    """One tap on the bar shows a panel in the conversation's place, with focus on its
    heading and "Get help now" still on the screen; returns the bar's button."""
    opener = page.get_by_role("button", name=button)
    expect(page.locator(shows)).to_be_hidden()
    expect(opener).to_have_attribute("aria-expanded", "false")
    press(page, opener)
    expect(page.locator(shows)).to_be_visible()
    expect(opener).to_have_attribute("aria-expanded", "true")
    expect(page.locator(heading)).to_be_focused()
    expect(page.locator("#message-body")).to_be_hidden()
    expect(page.locator(".site-header .help-now")).to_be_in_viewport(ratio=1)
    return opener


def escape_panel(page, opener, shows: str) -> None:
    """Escape closes the panel and gives focus back to the button that opened it."""
    page.keyboard.press("Escape")
    expect(page.locator(shows)).to_be_hidden()
    expect(opener).to_be_focused()
    expect(opener).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#message-body")).to_be_visible()


@SIZES
def test_a_member_reads_and_writes_from_the_first_screen_and_finds_the_rest_one_tap_away(
    live_server_url, browser, busy_room, size
):
    page = enter(
        browser,
        live_server_url,
        busy_room["carol"],
        busy_room["session"],
        size,
        f"room-member-{size}",
    )

    if size == "phone":
        opener = open_panel(page, "Who is here (3)", "#presence", "#people-heading")
    else:
        expect(page.locator("#presence")).to_be_visible()  # the side column
        expect(page.get_by_role("button", name="Who is here (3)")).to_be_hidden()

    # What can be done about a person sits behind their name.
    hide = page.locator("#presence button[data-action='hide']")
    expect(hide).to_have_count(2)
    expect(hide.first).to_be_hidden()
    expect(page.locator("#presence .presence__report").first).to_be_hidden()
    name = page.locator("#presence button[data-action='menu']").first
    expect(name).to_have_attribute("aria-expanded", "false")
    press(page, name)
    expect(name).to_have_attribute("aria-expanded", "true")
    expect(hide.first).to_be_visible()
    expect(page.locator("#presence .presence__report").first).to_be_visible()
    expect(hide.nth(1)).to_be_hidden()  # one person's options at a time
    shoot(page, f"room-member-{size}-person")
    name.focus()
    page.keyboard.press("Escape")  # closes the options first, not the panel
    expect(hide.first).to_be_hidden()
    expect(name).to_be_focused()

    if size == "phone":
        escape_panel(page, opener, "#presence")
        expect_first_screen(page, "Message 12")

        press(page, page.get_by_role("button", name="Help"))
        expect(page.locator(".room__help .help-now")).to_be_visible()
        expect(page.get_by_text("Our group agreement")).to_be_visible()
        shoot(page, "room-member-phone-help")
        press(page, page.get_by_role("button", name="Back to the conversation"))
        expect(page.get_by_role("button", name="Help")).to_be_focused()
    else:
        expect(page.locator(".room__help .help-now")).to_be_in_viewport(ratio=1)

    # Writing works from there, and the box stays on the screen.
    say(page, "Hello, I am new here.")
    expect(page.locator("#messages li").last).to_contain_text("Hello, I am new here.")
    expect_first_screen(page, "Hello, I am new here.")
    if size == "phone":
        # The on-screen keyboard takes the lower half (the page is told to shrink for it):
        # the box, Send and the newest message stay in what is left.
        page.locator("#message-body").focus()
        page.set_viewport_size({"width": PHONE["width"], "height": 480})
        expect_first_screen(page, "Hello, I am new here.")
        shoot(page, "room-member-phone-keyboard")
    assert page.errors == [], page.errors


@SIZES
def test_a_facilitator_has_the_controls_one_tap_away_and_a_persons_actions_behind_the_name(
    live_server_url, browser, busy_room, therapist, size
):
    page = enter(
        browser,
        live_server_url,
        therapist,
        busy_room["session"],
        size,
        f"room-facilitator-{size}",
    )

    if size == "phone":
        opener = open_panel(page, "Facilitator controls", "#controls", "#controls-heading")
        expect(page.locator("#presence")).to_be_hidden()  # one panel at a time
        expect(page.locator("#lock-toggle")).to_be_visible()
        shoot(page, "room-facilitator-phone-controls")
        escape_panel(page, opener, "#controls")
        open_panel(page, "Who is here (3)", "#presence", "#people-heading")
    else:
        expect(page.locator("#controls")).to_be_visible()
        expect(page.get_by_role("button", name="Facilitator controls")).to_be_hidden()

    # No row of red buttons: Mute and Remove show under a name once it is pressed.
    remove = page.locator("#presence button[data-action='remove']")
    expect(remove).to_have_count(2)
    expect(remove.first).to_be_hidden()
    expect(remove.nth(1)).to_be_hidden()
    name = page.locator("#presence button[data-action='menu']").first
    press(page, name)
    expect(page.locator("#presence button[data-action='mute']").first).to_be_visible()
    expect(remove.first).to_be_visible()
    shoot(page, f"room-facilitator-{size}-person")

    # Remove still asks first; saying no changes nothing.
    asked = []

    def decline(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    press(page, remove.first)
    expect(page.locator("#people-count")).to_have_text("(3)")
    assert asked and asked[0].startswith("Remove ")
    assert page.errors == [], page.errors


# Everything the message announcer ever says, kept on <body> for the test to read (an init
# script runs whatever the page's Content-Security-Policy says). It starts watching once the
# page is parsed, before room.js runs.
RECORD_TOLD = """
document.addEventListener("readystatechange", () => {
  if (document.readyState !== "interactive") return;
  const region = document.getElementById("message-announcer");
  const told = [];
  new MutationObserver(() => {
    if (region.textContent) {
      told.push(region.textContent);
      document.body.setAttribute("data-told", JSON.stringify(told));
    }
  }).observe(region, { childList: true, characterData: true, subtree: true });
});
"""


def told(page) -> list[str]:
    return json.loads(page.locator("body").get_attribute("data-told") or "[]")


def messages_in(announcements: list[str]) -> int:
    """How many messages the announcements speak of."""
    total = 0
    for text in announcements:
        many = re.match(r"(\d+) new messages, the last from ", text)
        total += int(many.group(1)) if many else 1
    return total


def told_of(page, count: int) -> list[str]:
    """The announcements once they speak of ``count`` messages (or all there are after ten
    seconds, for the assertion to show)."""
    for _ in range(100):
        if messages_in(told(page)) >= count:
            break
        page.wait_for_timeout(100)
    return told(page)


def test_new_messages_are_told_in_a_few_words_and_the_history_never(
    live_server_url, browser, busy_room
):
    """The conversation is not a live region; the announcer says who wrote what, not what was
    said before the page came, nor what its catch-up brought, nor one's own words."""
    bob_page = room_page(browser, live_server_url, busy_room["bob"], "desktop")
    open_room(bob_page, live_server_url, busy_room["session"].pk)
    bob = busy_room["bob_name"]

    # Carol's page comes with twelve messages; room.js is held back while Bob writes two more,
    # which then reach her in the socket's catch-up.
    page = room_page(browser, live_server_url, busy_room["carol"], "phone")
    page.add_init_script(RECORD_TOLD)
    held = []
    page.route(re.compile(r"/js/room(\.[0-9a-f]+)?\.js$"), lambda route: held.append(route))
    page.goto(f"{live_server_url}/sessions/{busy_room['session'].pk}/room/", wait_until="commit")
    expect(page.locator("#messages li")).to_have_count(12)
    say(bob_page, "Caught up later, first")
    say(bob_page, "Caught up later, second")
    for _ in range(200):  # the page asked for room.js while it read the history
        if held:
            break
        page.wait_for_timeout(50)
    held[0].continue_()
    expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)
    expect(page.locator("#messages li")).to_have_count(14)

    log = page.locator("#messages")
    assert log.get_attribute("aria-live") in (None, "off")
    assert log.get_attribute("role") != "log"
    expect(page.locator("#message-announcer")).to_have_attribute("aria-live", "polite")

    # A new message from someone else is told, as text; the catch-up before it never was.
    say(bob_page, "Welcome, Carol. <b>Glad</b> you came.")
    expect(page.locator("#messages li")).to_have_count(15, timeout=10_000)
    assert told_of(page, 1) == [f"New message from {bob}: Welcome, Carol. <b>Glad</b> you came."]
    expect(page.locator("#message-announcer b")).to_have_count(0)

    # Her own words are not read back to her; three quick ones from Bob are told, together
    # when they come together.
    say(page, "Thank you.")
    for text in ("One", "Two", "Three"):
        bob_page.fill("#message-body", text)
        bob_page.click("#send-button")
    expect(page.locator("#messages li")).to_have_count(19, timeout=10_000)
    after = told_of(page, 4)[1:]
    assert messages_in(after) == 3, after
    assert all(bob in text and "Thank you" not in text for text in after), after
    assert after[-1] == f"New message from {bob}: Three" or after[-1].endswith(
        f"new messages, the last from {bob}."
    ), after
    assert page.errors == [], page.errors


def test_the_rooms_panels_on_a_phone_have_no_serious_accessibility_findings(
    live_server_url, browser, busy_room, therapist
):
    """Each panel open, with a person's options showing, as a member and as the facilitator."""
    axe_or_skip()
    session = busy_room["session"]
    found = []
    member, host = busy_room["carol"], therapist
    for person, panels in (
        (member, ["Who is here", "Help"]),
        (host, ["Facilitator controls", "Who is here"]),
    ):
        page = context_for(browser, live_server_url, person, viewport=PHONE).new_page()
        open_room(page, live_server_url, session.pk)
        expect(page.locator("#people-count")).to_have_text("(3)", timeout=10_000)
        found += serious_violations(page)
        for panel in panels:
            page.get_by_role("button", name=panel).click()
            if panel == "Who is here":
                page.locator("#presence button[data-action='menu']").first.click()
            found += serious_violations(page)
            page.keyboard.press("Escape")
            page.keyboard.press("Escape")
    assert found == []


def test_without_javascript_the_room_is_one_readable_page(live_server_url, browser, busy_room):
    page = logged_in_page(
        browser, live_server_url, busy_room["carol"], viewport=PHONE, java_script_enabled=False
    )
    page.goto(f"{live_server_url}/sessions/{busy_room['session'].pk}/room/")
    expect(page.locator("#messages li")).to_have_count(12)
    expect(page.locator("#room-bar")).to_be_hidden()
    for shown in ("#messages", "#presence", ".room__help .help-now", ".site-header .help-now"):
        expect(page.locator(shown)).to_be_visible()
    expect(page.locator("#room-side-close")).to_be_hidden()
    shoot(page, "room-member-phone-without-javascript")


def test_when_the_floor_becomes_theirs_a_phone_goes_back_to_the_conversation(
    live_server_url, browser, busy_room, therapist
):
    """A member reading "Who is here" on a phone when their turn in a round comes sees it: the
    panel gives way to the conversation and the box to write in."""
    from chat.floor import round_state
    from chat.models import Participant
    from chat.services import round_skip, round_start

    carol, session = busy_room["carol"], busy_room["session"]
    page = enter(browser, live_server_url, carol, session, "phone", "room-turn-phone")
    opener = open_panel(page, "Who is here (3)", "#presence", "#people-heading")

    round_start(actor=therapist, session_id=session.pk, prompt="Check-in")
    hers = Participant.objects.get(session=session, user=carol).pk
    while round_state(session.pk)["current"] != hers:
        round_skip(actor=therapist, session_id=session.pk)
    connections.close_all()

    expect(page.locator("#round-turn")).to_contain_text("Your turn", timeout=10_000)
    expect(page.locator("#presence")).to_be_hidden()
    shoot(page, "room-turn-phone-your-turn")
    expect(page.locator("#message-body")).to_be_in_viewport(ratio=1)
    expect(page.locator("#round-pass")).to_be_in_viewport(ratio=1)  # what to do, before the order
    expect(opener).to_be_focused()
    expect(opener).to_have_attribute("aria-expanded", "false")
