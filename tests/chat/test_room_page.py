"""The room page: the same rule as the socket, history rendered safely without JavaScript."""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from chat.selectors import room_access
from chat.services import message_post, room_join
from tests.chat.conftest import open_session
from tests.chat.test_room import XSS
from tests.factories import make_group, make_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def open_room(therapist):
    group = make_group(therapist, title="Evening circle", agreement="Be <b>gentle</b>.")
    member = make_member(group).user
    session = open_session(group)
    return group, session, member


def say(user, session, body):
    from django.utils import timezone

    room_join(
        access=room_access(user=user, session_id=session.pk, now=timezone.now()),
        channel_name=f"c-{uuid.uuid4()}",
        now=timezone.now(),
    )
    return message_post(actor=user, session_id=session.pk, body=body, client_id=uuid.uuid4())


def test_a_member_sees_the_room_with_its_history_escaped(client, open_room, settings):
    settings.CHAT_RATE_LIMIT_BURST = 1000
    _, session, member = open_room
    for payload in XSS:
        say(member, session, payload)
    client.force_login(member)
    response = client.get(reverse("chat:room", args=[session.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "<img src=x" not in page and "<svg/onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&amp;lt;b&amp;gt;already escaped" in page
    assert "Be &lt;b&gt;gentle&lt;/b&gt;." in page
    assert 'href="/help/"' in page
    config = json.loads(
        page.split('id="room-config" type="application/json">')[1].split("</script>")[0]
    )
    assert config["last_position"] == len(XSS)
    assert config["ws_path"] == f"/ws/sessions/{session.pk}/"
    # Chat history is not confused with Django's one-off notices.
    assert f"Message 1 in session {session.pk}" not in page


def test_the_outsider_gets_404_and_a_member_too_early_gets_a_reason(client, open_room, outsider):
    from datetime import timedelta

    from django.utils import timezone

    from groups.models import GroupSession

    _, session, member = open_room
    client.force_login(outsider)
    assert client.get(reverse("chat:room", args=[session.pk])).status_code == 404
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=timezone.now() + timedelta(hours=2), ends_at=timezone.now() + timedelta(hours=3)
    )
    client.force_login(member)
    response = client.get(reverse("chat:room", args=[session.pk]))
    assert response.status_code == 403
    assert response.context["refusal"].code == "too_early"


def test_anonymous_visitors_are_sent_to_log_in(client, open_room):
    _, session, _ = open_room
    response = client.get(reverse("chat:room", args=[session.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_my_schedule_offers_the_way_in_while_the_room_is_open(client, open_room):
    _, session, member = open_room
    client.force_login(member)
    page = client.get(reverse("groups:my_schedule")).content.decode()
    assert reverse("chat:room", args=[session.pk]) in page


def test_the_facilitator_sees_who_came_and_nobody_else_does(client, open_room, therapist, outsider):
    from django.utils import timezone

    from chat.services import room_leave

    _, session, member = open_room
    access = room_access(user=member, session_id=session.pk, now=timezone.now())
    room_join(access=access, channel_name="socket-1", now=timezone.now())
    room_leave(channel_name="socket-1", now=timezone.now())
    url = reverse("chat:attendance", args=[session.pk])
    for person in (member, outsider):
        client.force_login(person)
        assert client.get(url).status_code == 404
    client.force_login(therapist)
    response = client.get(url)
    assert response.status_code == 200
    [record] = response.context["records"]
    assert record.name == member.enrollments.get().pseudonym and record.last_left is not None
    assert member.email not in response.content.decode()
    assert url in client.get(reverse("groups:manage", args=[session.group.slug])).content.decode()


def test_an_ended_room_offers_its_members_the_check_out_and_tells_the_script_why(
    client, open_room, therapist
):
    from chat.services import room_end

    _, session, member = open_room
    url = reverse("chat:room", args=[session.pk])
    client.force_login(member)
    live = client.get(url).content.decode()
    assert 'id="checkout-offer"' in live  # hidden until the end
    room_end(actor=therapist, session_id=session.pk)

    response = client.get(url)
    checkout_url = reverse("groups:checkout", args=[session.pk])
    assert response.status_code == 403 and response["X-Room-Refusal"] == "closed"
    assert "This session has ended" in response.content.decode()
    assert checkout_url in response.content.decode()
    assert client.head(url)["X-Room-Refusal"] == "closed"  # what a reconnecting page asks
    client.force_login(therapist)
    assert checkout_url not in client.get(url).content.decode()


def test_the_facilitators_room_has_no_check_out_offer(client, open_room, therapist):
    _, session, _ = open_room
    client.force_login(therapist)
    assert (
        'id="checkout-offer"'
        not in client.get(reverse("chat:room", args=[session.pk])).content.decode()
    )
