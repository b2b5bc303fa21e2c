"""A newcomer who uses only the keyboard: signs up, confirms their email, logs in, accepts the
guidelines, joins a group and takes part in its live room, with Tab, Shift+Tab, Space and Enter
alone. Every stop is reached by Tab (no click, no fill), so a control that cannot be reached or
used from the keyboard fails the test."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.db import connections
from playwright.sync_api import Locator, Page, expect

from chat.models import Message
from tests.chat.conftest import open_session
from tests.e2e.accessibility import DESKTOP
from tests.e2e.test_room_journey import CONNECTED
from tests.factories import make_group, make_member

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

EMAIL = "river.new@example.com"
PASSWORD = "a calm evening by the sea 42"
TAB_LIMIT = 80  # more stops than any page here has before what the journey needs


def tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (or Shift+Tab) until ``target`` has the focus."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(TAB_LIMIT):
        page.keyboard.press(key)
        try:
            expect(target).to_be_focused(timeout=50)
        except AssertionError:
            continue
        assert_focus_visible(target)
        return
    raise AssertionError(f"{target} cannot be reached with {key}")


def assert_focus_visible(target: Locator) -> None:
    """Where the focus is can be seen: an outline or a ring (box-shadow) is drawn."""
    style = target.evaluate(
        "e => { const s = getComputedStyle(e);"
        " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"
    )
    outline_style, outline_width, ring = style
    drawn = (outline_style != "none" and outline_width != "0px") or ring != "none"
    assert drawn, f"no visible focus on {target}: {style}"


def type_into(page: Page, target: Locator, text: str) -> None:
    tab_to(page, target)
    page.keyboard.type(text)


def press_on(page: Page, target: Locator, key: str = "Enter") -> None:
    tab_to(page, target)
    page.keyboard.press(key)


def confirmation_link(base_url: str) -> str:
    """The link in the verification email (allauth's keys are HMACs of the address row)."""
    connections.close_all()
    address = EmailAddress.objects.get(email=EMAIL)
    key = EmailConfirmationHMAC(address).key
    connections.close_all()
    return f"{base_url}/accounts/confirm-email/{key}/"


def test_a_newcomer_signs_up_joins_and_takes_part_using_only_the_keyboard(
    live_server_url, browser, therapist
):
    group = make_group(therapist, title="Quiet evenings")
    make_member(group, pseudonym="Sam")
    open_session(group)
    page = browser.new_context(viewport=DESKTOP).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    # Sign up.
    page.goto(live_server_url + "/")
    press_on(page, page.get_by_role("link", name="Join Hearth").first)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Join Hearth")
    type_into(page, page.get_by_label("Email"), EMAIL)
    type_into(page, page.get_by_label("Password:", exact=True), PASSWORD)
    type_into(page, page.get_by_label("Password (again):", exact=True), PASSWORD)
    press_on(page, page.get_by_role("button", name="Join Hearth", exact=True))
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        re.compile("check your email", re.I)
    )

    # Confirm the address from the email, then log in.
    page.goto(confirmation_link(live_server_url))
    press_on(page, page.get_by_role("button", name="Confirm"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Log in")
    type_into(page, page.get_by_label("Email"), EMAIL)
    type_into(page, page.get_by_label("Password").first, PASSWORD)
    press_on(page, page.get_by_role("button", name="Log in", exact=True))

    # Accept the guidelines: a checkbox takes Space.
    press_on(page, page.get_by_role("link", name="Read the guidelines"))
    press_on(page, page.get_by_label("I have read these guidelines"), "Space")
    expect(page.get_by_label("I have read these guidelines")).to_be_checked()
    press_on(page, page.get_by_role("button", name="I agree"))
    expect(page.get_by_role("status").first).to_contain_text("Thank you for accepting")

    # Find the group and join it.
    nav = page.get_by_role("navigation", name="Main")
    press_on(page, nav.get_by_role("link", name="Find a group"))
    press_on(page, page.get_by_role("link", name="Quiet evenings", exact=True))
    press_on(page, page.get_by_role("button", name="Join this group"))
    expect(page.get_by_role("main")).to_contain_text("You are a member")

    # Into the room from My schedule; write and send with the keyboard alone.
    press_on(page, nav.get_by_role("link", name="My schedule"))
    press_on(page, page.get_by_role("link", name="Join the room for Quiet evenings"))
    expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)
    type_into(page, page.get_by_label("Your message"), "Hello, I am new and a bit nervous.")
    page.keyboard.press("Control+Enter")
    expect(page.locator("#messages")).to_contain_text(
        "Hello, I am new and a bit nervous.", timeout=10_000
    )
    expect(page.get_by_label("Your message")).to_have_value("")
    # Raise a hand (a button takes Space), and find the crisis link going backwards.
    press_on(page, page.get_by_role("button", name="Raise my hand"), "Space")
    expect(page.locator("#hand-state")).to_contain_text("Your hand is raised", timeout=10_000)
    tab_to(page, page.get_by_role("link", name="Get help now").first, backwards=True)

    connections.close_all()
    assert Message.objects.filter(body="Hello, I am new and a bit nervous.").count() == 1
    connections.close_all()
    assert errors == []
