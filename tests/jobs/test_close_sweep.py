"""Closing rooms on time: one close, one audit row, one notice, however often it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Attendance
from chat.selectors import room_access
from chat.services import room_join, sessions_close_due
from chat.tasks import close_ended_sessions
from groups.models import GroupSession
from moderation.models import AuditAction, AuditEvent
from tests.chat.conftest import open_session
from tests.concurrency import at_once
from tests.factories import make_group, make_member


def ended_session(therapist):
    group = make_group(therapist)
    member = make_member(group).user
    session = open_session(group)
    now = timezone.now()
    room_join(
        access=room_access(user=member, session_id=session.pk, now=now), channel_name="s1", now=now
    )
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=now - timedelta(hours=1), ends_at=now - timedelta(minutes=1)
    )
    return session


@pytest.mark.django_db
def test_the_sweep_closes_an_ended_room_once_and_finishes_attendance(
    therapist, django_capture_on_commit_callbacks
):
    session = ended_session(therapist)
    with django_capture_on_commit_callbacks(execute=False) as notices:
        assert sessions_close_due() == 1
        assert sessions_close_due() == 0  # safe to run twice
    assert len(notices) == 1  # one room.closed broadcast
    session.refresh_from_db()
    assert session.closed_at == session.ends_at
    assert Attendance.objects.get(session=session).left_at == session.ends_at
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_CLOSED).count() == 1


@pytest.mark.django_db
def test_a_session_ended_early_or_cancelled_is_not_closed_again(therapist):
    from groups.services import session_end

    session = ended_session(therapist)
    GroupSession.objects.filter(pk=session.pk).update(
        ends_at=timezone.now() + timedelta(minutes=30)
    )
    session.refresh_from_db()
    session_end(actor=therapist, session=session)
    assert sessions_close_due(now=timezone.now() + timedelta(hours=1)) == 0
    assert not AuditEvent.objects.filter(action=AuditAction.SESSION_CLOSED).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_running_at_once_close_each_room_once(request):
    therapist = request.getfixturevalue("therapist")
    sessions = [ended_session(therapist) for _ in range(1)]
    counts = at_once(sessions_close_due, sessions_close_due, timeout=30)
    assert sorted(counts) == [0, len(sessions)]
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_CLOSED).count() == len(sessions)


@pytest.mark.django_db
def test_each_periodic_job_records_its_last_success_for_the_health_page(therapist, client):
    from django.urls import reverse

    from accounts.models import JobRun

    ended_session(therapist)
    assert close_ended_sessions() == 1
    run = JobRun.objects.get(name="chat.close_ended_sessions")
    assert run.last_result == 1
    response = client.get(reverse("health"))
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["jobs"]["chat.close_ended_sessions"]["late"] is False
    assert body["jobs"]["moderation.purge_transcripts"]["late"] is True  # never ran here
    assert "no-cache" in response["Cache-Control"]
