"""The practice room: open to any logged-in person at any time, the room's own page with a
pretend session, and nothing written by opening it."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from accounts.models import Notification
from chat.models import Attendance, Message, Participant, Room
from groups.services import enrollment_create
from moderation.models import AuditEvent, Report
from tests.factories import accept_guidelines, make_group, make_session

pytestmark = pytest.mark.django_db

PRACTICE = reverse("chat:practice")
OFFER = "Try the room before your first session"


def config_of(response) -> dict:
    page = response.content.decode()
    start = page.index('<script id="room-config" type="application/json">') + len(
        '<script id="room-config" type="application/json">'
    )
    return json.loads(page[start : page.index("</script>", start)])


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in (PRACTICE, reverse("chat:practice_report")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))


def test_any_logged_in_person_opens_the_practice_room_with_the_room_and_its_walk(client, outsider):
    client.force_login(outsider)
    response = client.get(PRACTICE)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<h1 class="room__title">Practice room</h1>' in page
    assert 'id="practice-walk"' in page and 'id="send-form"' in page
    assert "Nobody else is here" in page
    # The room's own script, after its stand-in for the socket, and the walk after both.
    scripts = [
        page.index(f"/static/js/{name}")
        for name in ("practice_socket.js", "room_floor.js", "room.js", "practice_walk.js")
    ]
    assert scripts == sorted(scripts)
    config = config_of(response)
    assert config["practice"] is True
    assert config["name"] == outsider.display_name
    assert config["report_url"] == reverse("chat:practice_report")
    assert client.get(reverse("chat:practice_report")).status_code == 200


def test_the_practice_room_uses_the_name_of_the_persons_next_group(client, therapist, member):
    soon = make_group(therapist, title="Soon")
    make_session(soon, days_ahead=2)
    later = make_group(therapist, title="Later")
    make_session(later, days_ahead=9, hour=10)
    accept_guidelines(member)
    enrollment_create(actor=member, group=later, pseudonym="Far Heron")
    enrollment_create(actor=member, group=soon, pseudonym="Near Finch")
    client.force_login(member)
    response = client.get(PRACTICE)
    assert config_of(response)["name"] == "Near Finch"
    assert "Near Finch" in response.content.decode()


def test_a_name_with_markup_is_shown_as_text(client, member):
    member.display_name = "Ana <i>x</i>"
    member.save(update_fields=["display_name"])
    client.force_login(member)
    page = client.get(PRACTICE).content.decode()
    assert "<i>x</i>" not in page
    assert config_of(client.get(PRACTICE))["name"] == "Ana <i>x</i>"


def test_opening_the_practice_room_writes_nothing(client, member):
    client.force_login(member)
    kept = (Message, Participant, Attendance, Room, Report, AuditEvent, Notification)
    before = [model.objects.count() for model in kept]
    assert client.get(PRACTICE).status_code == 200
    assert client.get(reverse("chat:practice_report")).status_code == 200
    assert [model.objects.count() for model in kept] == before


def test_the_practice_room_only_reads(client, member):
    client.force_login(member)
    assert client.post(PRACTICE).status_code == 405
