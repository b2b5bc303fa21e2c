"""New messages from others are told to screen readers in a few words, in a live region of
their own, and the history never (issue 16), in a real browser."""

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
from tests.e2e.accessibility import PHONE
from tests.e2e.test_room_journey import CONNECTED, logged_in_page, open_room, say
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

DESKTOP = {"width": 1280, "height": 800}


def room_page(browser, base_url: str, user, size: str):
    if size == "phone":
        page = logged_in_page(
            browser, base_url, user, viewport=PHONE, is_mobile=True, has_touch=True
        )
    else:
        page = logged_in_page(browser, base_url, user, viewport=DESKTOP)
    page.phone = size == "phone"
    return page


@pytest.fixture
def busy_room(therapist, settings):
    """An open room with three members, two of whom have said a good deal already."""
    settings.CHAT_RATE_LIMIT_BURST = 1000
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
