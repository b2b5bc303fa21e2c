"""The journey that matters most, in a real browser: two members and a facilitator chat; one
reloads mid-stream and misses nothing; the facilitator mutes one and ends the session.

Waits use Playwright's locator assertions: the page's Content-Security-Policy forbids the
string evaluation that ``wait_for_function`` relies on.
"""

from __future__ import annotations

import re

import pytest
from django.db import connections
from django.test import Client
from playwright.sync_api import expect

from chat.models import Participant
from tests.chat.conftest import open_session
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CONNECTED = re.compile(r"Connected|up to date")


def logged_in_page(browser, base_url: str, user, *, viewport=None, **context_options):
    client = Client()
    client.force_login(user)
    context = browser.new_context(
        viewport=viewport or {"width": 1000, "height": 900}, **context_options
    )
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors
    return page


def open_room(page, base_url: str, session_id: int) -> None:
    page.goto(f"{base_url}/sessions/{session_id}/room/")
    expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)


def say(page, text: str) -> None:
    page.fill("#message-body", text)
    page.click("#send-button")
    expect(page.locator("#message-body")).to_have_value("", timeout=10_000)


def expect_message(page, text: str) -> None:
    expect(page.locator("#messages")).to_contain_text(text, timeout=10_000)


def positions(page) -> list[str]:
    return [
        li.get_attribute("data-position")
        for li in page.locator("#messages li[data-position]").all()
    ]


def test_two_members_and_a_facilitator_chat_reload_mute_and_end(
    live_server_url, browser, therapist
):
    group = make_group(therapist, title="Evening circle", agreement="We listen before we answer.")
    alice = make_member(group).user
    bob = make_member(group).user
    session = open_session(group)

    host = logged_in_page(browser, live_server_url, therapist)
    alice_page = logged_in_page(browser, live_server_url, alice)
    bob_page = logged_in_page(browser, live_server_url, bob)
    for page in (host, alice_page, bob_page):
        open_room(page, live_server_url, session.pk)

    say(alice_page, "Hello from Alice <b>bold?</b>")
    for page in (host, bob_page):
        expect_message(page, "Hello from Alice <b>bold?</b>")  # shown as text, not markup
    assert bob_page.locator("#messages b").count() == 0

    # Bob reloads while Alice keeps talking: afterwards he has every message, once, in order.
    say(alice_page, "two")
    bob_page.reload(wait_until="commit")
    for text in ("three", "four", "five"):
        say(alice_page, text)
    open_room(bob_page, live_server_url, session.pk)
    expect_message(bob_page, "five")
    assert positions(bob_page) == ["1", "2", "3", "4", "5"]
    say(bob_page, "Bob is back")
    expect_message(alice_page, "Bob is back")

    # Bob writes something that suggests crisis: it is delivered, he privately sees crisis
    # lines, the facilitator is alerted, and Alice sees neither.
    say(bob_page, "I can't go on like this")
    expect_message(alice_page, "I can't go on like this")
    expect(bob_page.locator("#crisis-support")).to_be_visible(timeout=10_000)
    expect(bob_page.locator("#crisis-support-lines li").first).to_be_visible()
    expect(host.locator("#facilitator-alerts")).to_contain_text("may be in crisis", timeout=10_000)
    expect(alice_page.locator("#crisis-support")).to_be_hidden()
    expect(alice_page.locator("#facilitator-alerts")).to_be_hidden()

    # The facilitator mutes Alice: she is told, and can read but no longer write.
    alice_participant = Participant.objects.get(session=session, user=alice)
    # Playwright runs this test in a greenlet, where Django opened a connection of its own.
    connections.close_all()
    alice_here = f"#presence [data-participant='{alice_participant.pk}']"
    host.locator(f"{alice_here} button[data-action='menu']").click()  # her options: behind her name
    host.locator(f"{alice_here} button[data-action='mute']").click()
    expect(alice_page.locator("body")).to_contain_text(re.compile("muted", re.I), timeout=10_000)
    expect(alice_page.locator("#message-body")).not_to_be_editable()
    expect(alice_page.locator("#send-button")).to_be_disabled()
    say(bob_page, "Still here, Bob")
    expect_message(alice_page, "Still here, Bob")

    # The facilitator ends the session: everyone is told, and the form closes.
    host.on("dialog", lambda dialog: dialog.accept())
    host.click("#end-session")
    for page in (alice_page, bob_page, host):
        expect(page.locator("#connection-state")).to_contain_text("ended", timeout=10_000)
        expect(page.locator("#send-button")).to_be_disabled()
    # It says so once, nobody is listed as here, nothing invites coming back, and Alice's mute
    # notice is gone: there is nothing left to be muted from. Members are offered the check-out.
    for page in (alice_page, bob_page, host):
        expect(page.locator("#presence")).to_have_text("The session has ended.")
        expect(page.locator("#people-count")).to_have_text("(0)")
        expect(page.locator("#help-come-back")).to_be_hidden()
        assert page.get_by_text("This session has ended", exact=False).count() == 1
    expect(alice_page.locator("#send-error")).to_have_text("")
    for page in (alice_page, bob_page):
        expect(page.locator("#checkout-offer")).to_be_visible()
        expect(page.locator("#checkout-offer a")).to_have_attribute(
            "href", f"/sessions/{session.pk}/check-out/"
        )
    assert host.locator("#checkout-offer").count() == 0
    for page in (host, alice_page, bob_page):
        assert page.errors == [], page.errors
