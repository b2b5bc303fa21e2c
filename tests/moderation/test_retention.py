"""Transcripts expire after the group's retention period, except messages under open reports."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Message
from chat.selectors import room_access
from chat.services import message_post, room_join, round_start
from groups.models import GroupSession
from moderation.models import AuditAction, AuditEvent, Report
from moderation.retention import transcripts_purge
from moderation.services import report_dismiss, report_file
from tests.chat.conftest import open_session
from tests.factories import make_group, make_member

pytestmark = pytest.mark.django_db


def post(user, session, body):
    now = timezone.now()
    room_join(
        access=room_access(user=user, session_id=session.pk, now=now),
        channel_name=str(uuid.uuid4()),
        now=now,
    )
    return message_post(
        actor=user, session_id=session.pk, body=body, client_id=uuid.uuid4()
    ).message


@pytest.fixture
def talked(therapist, settings):
    settings.CHAT_RATE_LIMIT_BURST = 1000
    group = make_group(therapist, transcript_retention_days=7)
    alice, bob = make_member(group).user, make_member(group).user
    session = open_session(group)
    kept, reported = post(alice, session, "I felt better this week"), post(bob, session, "shut up")
    return group, session, alice, kept, reported


def test_bodies_are_deleted_after_the_retention_period_but_reported_ones_wait(talked, therapist):
    group, session, alice, kept, reported = talked
    report = report_file(actor=alice, group=group, reason="harassment", message=reported)
    ended = timezone.now() - timedelta(days=8)
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=ended - timedelta(hours=1), ends_at=ended
    )

    assert transcripts_purge() == 1
    kept.refresh_from_db()
    reported.refresh_from_db()
    assert (kept.body, kept.purged_at is not None) == ("", True)
    assert reported.body == "shut up"  # held for the open report
    event = AuditEvent.objects.get(action=AuditAction.TRANSCRIPTS_PURGED)
    assert event.details == {"messages": 1, "retention_days": 7}

    report_dismiss(actor=therapist, report=report, reason="Handled in the session")
    assert transcripts_purge() == 1
    reported.refresh_from_db()
    assert reported.body == ""
    assert transcripts_purge() == 0  # safe to run again


def test_nothing_is_deleted_before_its_time(talked):
    _, session, _, _, _ = talked
    ended = timezone.now() - timedelta(days=6)
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=ended - timedelta(hours=1), ends_at=ended
    )
    assert transcripts_purge() == 0
    assert Message.objects.filter(body="").count() == 0
    assert not Report.objects.exists()


def test_round_prompts_expire_with_the_transcript(talked, therapist):
    _, session, _, _, _ = talked
    started = round_start(actor=therapist, session_id=session.pk, prompt="What weighs on you?")
    ended = timezone.now() - timedelta(days=8)
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=ended - timedelta(hours=1), ends_at=ended
    )

    transcripts_purge()

    started.refresh_from_db()
    assert started.prompt == ""
