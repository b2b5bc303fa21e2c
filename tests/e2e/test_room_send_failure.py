"""A server that fails on sending, in a real browser: the room does not loop. After three tries
it stops resending, says so, keeps the words in the box and offers to try again; one failure
alone is sent again once and delivered once.

Playwright stands between the page and daphne (``page.route_web_socket``) and passes every
frame through, except that it can answer a ``message.send`` by closing the page's socket with
1011, as the server did when a bug made every send fail.
"""

from __future__ import annotations

import json
import re
import time
from itertools import pairwise

import pytest
from django.db import connections
from playwright.sync_api import expect

from chat.models import Message
from tests.chat.conftest import open_session
from tests.e2e.test_room_journey import expect_message, logged_in_page, open_room, say
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROOM_SOCKET = re.compile(r"/ws/sessions/\d+/")
SEND_TRIES = 3  # room.js: SEND_TRIES
EVERY_TIME = 1_000_000


class FailingSends:
    """The route for the room's sockets: frames pass both ways, but while ``failures_left`` is
    above zero a ``message.send`` is not passed on; the page's socket closes with 1011 instead.
    Counts the sockets the page opens and the ``message.send`` frames it sends."""

    def __init__(self, failures: int) -> None:
        self.failures_left = failures
        self.sends = 0
        self.opened_at: list[float] = []

    def __call__(self, route) -> None:
        self.opened_at.append(time.monotonic())
        server = route.connect_to_server()

        def from_page(frame: str | bytes) -> None:
            if isinstance(frame, str) and json.loads(frame).get("type") == "message.send":
                self.sends += 1
                if self.failures_left > 0:
                    self.failures_left -= 1
                    route.close(code=1011, reason="Internal error")
                    server.close()
                    return
            server.send(frame)

        route.on_message(from_page)


def wait_until(page, condition, timeout: float = 20) -> None:
    """Let Playwright run the route's handlers until ``condition()`` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(100)


def stored(session, body: str) -> int:
    count = Message.objects.filter(session=session, body=body).count()
    # Playwright runs this test in a greenlet, where Django opened a connection of its own.
    connections.close_all()
    return count


def member_in_room(live_server_url, browser, therapist, failures: int):
    """A member's page in an open room whose next ``failures`` sends the server closes."""
    group = make_group(therapist)
    member = make_member(group).user
    session = open_session(group)
    page = logged_in_page(browser, live_server_url, member)
    failing = FailingSends(failures)
    page.route_web_socket(ROOM_SOCKET, failing)
    open_room(page, live_server_url, session.pk)
    return page, session, failing


def test_the_room_stops_resending_after_three_failures_and_sends_when_asked_again(
    live_server_url, browser, therapist
):
    page, session, failing = member_in_room(live_server_url, browser, therapist, EVERY_TIME)

    words = "I have been thinking about what you said last week."
    page.fill("#message-body", words)
    page.click("#send-button")

    failure = page.get_by_role("alert").filter(has_text="Your message could not be sent.")
    expect(failure).to_be_visible(timeout=20_000)
    assert failing.sends == SEND_TRIES
    expect(page.locator("#message-body")).to_have_value(words)
    try_again = page.get_by_role("button", name="Try again")
    expect(try_again).to_be_visible()

    # The page still reconnects, waiting longer each time, but does not send the words again.
    wait_until(page, lambda: len(failing.opened_at) > SEND_TRIES)
    expect(page.locator("#connection-state")).to_contain_text("Reconnected", timeout=10_000)
    page.wait_for_timeout(1500)
    assert failing.sends == SEND_TRIES
    gaps = [later - earlier for earlier, later in pairwise(failing.opened_at)]
    assert gaps[-1] >= 3, gaps  # the third reconnect waits 4 s or more, not 1 s
    expect(failure).to_be_visible()
    expect(page.locator("#message-body")).to_have_value(words)
    assert stored(session, words) == 0

    # The server works again: "Try again" sends the words, once.
    failing.failures_left = 0
    try_again.click()
    expect_message(page, words)
    expect(page.locator("#message-body")).to_have_value("", timeout=10_000)
    expect(page.locator("#send-error")).to_be_empty()
    expect(page.locator("#send-state")).to_have_text("Sent.")
    assert failing.sends == SEND_TRIES + 1
    assert stored(session, words) == 1
    assert page.errors == [], page.errors


def test_one_failed_send_is_sent_again_once_and_the_next_message_gets_three_tries_of_its_own(
    live_server_url, browser, therapist
):
    page, session, failing = member_in_room(live_server_url, browser, therapist, 1)

    first = "Hello, everyone. It is my first time here."
    say(page, first)  # waits for the box to empty: the ack arrived
    expect_message(page, first)
    expect(page.locator("#connection-state")).to_contain_text("Reconnected")
    expect(page.locator("#send-error")).to_be_empty()
    assert failing.sends == 2
    assert page.locator("#messages li[data-position]").count() == 1
    assert stored(session, first) == 1

    # A later message is not charged for the earlier failure: it gets its own three tries.
    failing.failures_left = EVERY_TIME
    second = "Thank you for listening."
    page.fill("#message-body", second)
    page.click("#send-button")
    failure = page.get_by_role("alert").filter(has_text="Your message could not be sent.")
    expect(failure).to_be_visible(timeout=30_000)
    assert failing.sends == 2 + SEND_TRIES
    expect(page.locator("#message-body")).to_have_value(second)
    assert page.errors == [], page.errors
