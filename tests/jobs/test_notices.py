"""Facilitators are told when a room they lead opens, and by email when someone may be in crisis."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from chat.selectors import room_access
from chat.services import message_post, room_join
from groups.models import GroupSession
from groups.reminders import rooms_announce_opening
from tests.chat.conftest import open_session
from tests.factories import make_group, make_member, make_session

pytestmark = pytest.mark.django_db


def test_the_facilitator_is_told_once_when_the_room_opens(
    therapist, django_capture_on_commit_callbacks
):
    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    assert rooms_announce_opening() == 0  # not open yet
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=timezone.now() + timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(minutes=65),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert rooms_announce_opening() == 1
        assert rooms_announce_opening() == 0
    [email] = mail.outbox
    assert email.to == [therapist.email]
    assert email.subject == "[Hearth] A session you lead is opening"
    assert group.title not in email.body


def test_facilitators_get_a_crisis_email_without_the_words(
    therapist, settings, django_capture_on_commit_callbacks
):
    settings.CHAT_RATE_LIMIT_BURST = 1000
    group = make_group(therapist)
    member = make_member(group).user
    session = open_session(group)
    now = timezone.now()
    room_join(
        access=room_access(user=member, session_id=session.pk, now=now), channel_name="x", now=now
    )
    with django_capture_on_commit_callbacks(execute=True):
        message_post(
            actor=member,
            session_id=session.pk,
            body="I want to end my life",
            client_id=uuid.uuid4(),
        )
    [email] = [m for m in mail.outbox if m.to == [therapist.email]]
    assert email.subject == "[Hearth] Someone in your group may need support"
    assert "end my life" not in email.body
    assert member.display_name not in email.body
