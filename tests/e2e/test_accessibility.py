"""Every page type, and the room as it changes, has no serious or critical axe-core finding,
at phone and desktop sizes."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from playwright.sync_api import expect

from tests.chat.conftest import open_session
from tests.e2e.accessibility import DESKTOP, PHONE, axe_or_skip, serious_violations
from tests.factories import make_group, make_member, make_session

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

CONNECTED = re.compile(r"Connected|up to date")


def context_for(browser, base_url: str, user=None, *, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, bypass_csp=True)
    if user is not None:
        client = Client()
        client.force_login(user)
        context.add_cookies(
            [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
        )
    return context


def check(page, base_url: str, paths: list[str]) -> list[str]:
    found = []
    for path in paths:
        response = page.goto(base_url + path)
        assert response is not None and response.status == 200, (path, response and response.status)
        found += serious_violations(page)
    return found


@pytest.fixture
def world(therapist, member):
    group = make_group(therapist, title="Evening circle", agreement="We listen first.")
    make_session(group, days_ahead=3)
    make_member(group, member)
    make_member(group)
    return {"group": group, "session": open_session(group)}


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_public_pages_have_no_serious_accessibility_findings(
    live_server_url, browser, world, viewport
):
    axe_or_skip()
    slug = world["group"].slug
    page = context_for(browser, live_server_url, viewport=viewport).new_page()
    found = check(
        page,
        live_server_url,
        [
            "/",
            reverse("how_it_works"),
            reverse("groups:directory"),
            reverse("groups:detail", args=[slug]),
            reverse("groups:finder") + "?topic=&language=en&kind=",
            reverse("guidelines"),
            reverse("help"),
            reverse("account_login"),
            reverse("account_signup"),
            reverse("account_reset_password"),
        ],
    )
    assert found == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_members_pages_have_no_serious_accessibility_findings(
    live_server_url, browser, world, member, viewport
):
    axe_or_skip()
    slug = world["group"].slug
    page = context_for(browser, live_server_url, member, viewport=viewport).new_page()
    found = check(
        page,
        live_server_url,
        [
            reverse("groups:my_schedule"),
            reverse("groups:directory"),
            reverse("groups:detail", args=[slug]),
            reverse("groups:finder"),
            reverse("groups:reminder_settings"),
            reverse("groups:calendar_settings"),
            reverse("moderation:report", args=[slug]),
            reverse("groups:leave", args=[slug]),
            reverse("groups:create"),
            reverse("accounts:profile"),
            reverse("account_change_password"),
            reverse("mfa_index"),
            reverse("moderation:my_data"),
            reverse("groups:checkout", args=[world["session"].pk]),
            reverse("chat:practice"),
            reverse("chat:practice_report"),
        ],
    )
    assert found == []


def test_a_facilitators_pages_have_no_serious_accessibility_findings(
    live_server_url, browser, world, therapist
):
    axe_or_skip()
    group, session = world["group"], world["session"]
    page = context_for(browser, live_server_url, therapist).new_page()
    found = check(
        page,
        live_server_url,
        [
            reverse("groups:dashboard"),
            reverse("groups:manage", args=[group.slug]),
            reverse("groups:edit", args=[group.slug]),
            reverse("groups:schedule", args=[group.slug]),
            reverse("chat:attendance", args=[session.pk]),
            reverse("groups:group_checkouts", args=[group.slug]),
            reverse("moderation:queue"),
        ],
    )
    assert found == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_room_has_no_serious_accessibility_findings_while_open_and_once_ended(
    live_server_url, browser, world, member, therapist, viewport
):
    axe_or_skip()
    session = world["session"]
    room = reverse("chat:room", args=[session.pk])
    found = []
    for person in (member, therapist):
        page = context_for(browser, live_server_url, person, viewport=viewport).new_page()
        page.goto(live_server_url + room)
        expect(page.locator("#connection-state")).to_contain_text(CONNECTED, timeout=10_000)
        page.fill("#message-body", f"Hello from {person.display_name}")
        page.click("#send-button")
        expect(page.locator("#messages")).to_contain_text("Hello from", timeout=10_000)
        found += serious_violations(page)
        person.page = page
    therapist.page.on("dialog", lambda dialog: dialog.accept())
    if viewport is PHONE:  # the controls are a tap away, in place of the conversation
        therapist.page.get_by_role("button", name="Facilitator controls").click()
        found += serious_violations(therapist.page)
    therapist.page.click("#end-session")
    for person in (member, therapist):
        expect(person.page.locator("#connection-state")).to_contain_text("ended", timeout=10_000)
        found += serious_violations(person.page)
    assert found == []


def test_the_check_reports_a_serious_finding_when_a_page_has_one(browser):
    """The check itself: a nameless button and an image without words are found."""
    axe_or_skip()
    page = browser.new_context(bypass_csp=True).new_page()
    page.set_content(
        '<html lang="en"><title>t</title><main><button></button><img src="x.png"></main>'
    )
    found = serious_violations(page)
    assert any("button-name" in finding for finding in found)
    assert any("image-alt" in finding for finding in found)
