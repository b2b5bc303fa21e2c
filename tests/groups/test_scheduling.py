"""Scheduling: one-off sessions and weekly series in the group's zone, across clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from accounts.exceptions import ServiceError
from groups.models import GroupSession
from groups.scheduling import Recurrence, to_local, to_utc
from groups.services import (
    series_schedule,
    session_cancel,
    session_reschedule,
    session_schedule,
)
from moderation.models import AuditAction, AuditEvent
from tests.factories import make_group, make_member, make_session

pytestmark = pytest.mark.django_db


def utc_hours(sessions):
    return [s.starts_at.astimezone(UTC).hour for s in sessions]


def test_tuesdays_at_six_for_eight_weeks_stay_at_six_in_london_across_the_clock_change(therapist):
    group = make_group(therapist, time_zone="Europe/London")
    # Tuesdays from 9 March 2027; the clocks go forward on Sunday 28 March 2027.
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime(2027, 3, 9, 18, 0),
        duration_minutes=60,
        recurrence=Recurrence(count=8),
    )
    assert len(sessions) == 8
    assert {
        to_local(s.starts_at, time_zone="Europe/London").strftime("%a %H:%M") for s in sessions
    } == {"Tue 18:00"}
    assert utc_hours(sessions) == [18, 18, 18, 17, 17, 17, 17, 17]
    # A viewer in Tokyo (no clock changes) sees the session an hour earlier after the change.
    tokyo = [s.starts_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M") for s in sessions]
    assert tokyo[:3] == ["Wed 03:00"] * 3
    assert tokyo[3:] == ["Wed 02:00"] * 5
    assert len({s.series_id for s in sessions}) == 1
    assert sessions[0].series.rule == "FREQ=WEEKLY;INTERVAL=1;COUNT=8"


def test_every_other_thursday_until_a_date_in_new_york_across_both_clock_changes(therapist):
    group = make_group(therapist, time_zone="America/New_York")
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime(2027, 1, 7, 19, 30),
        duration_minutes=90,
        recurrence=Recurrence(interval_weeks=2, until=date(2027, 3, 1)),
    )
    locals_ = [to_local(s.starts_at, time_zone="America/New_York") for s in sessions]
    assert [d.date() for d in locals_] == [
        date(2027, 1, 7) + timedelta(weeks=2 * i) for i in range(4)
    ]
    assert {d.strftime("%a %H:%M") for d in locals_} == {"Thu 19:30"}
    # A London viewer: New York and London change on different dates.
    late = session_on(therapist, "America/New_York", datetime(2027, 3, 18, 19, 30))
    assert late.starts_at.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") == "23:30"
    assert sessions[0].starts_at.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") == "00:30"


def session_on(therapist, zone, local):
    group = make_group(therapist, time_zone=zone, title=f"Group {local:%j%H}")
    return session_schedule(actor=therapist, group=group, starts_local=local, duration_minutes=60)


def test_a_time_skipped_by_the_clock_change_is_refused_with_a_reason(therapist):
    group = make_group(therapist, time_zone="Europe/London")
    with pytest.raises(ServiceError) as caught:
        session_schedule(
            actor=therapist,
            group=group,
            starts_local=datetime(2027, 3, 28, 1, 30),
            duration_minutes=60,
        )
    assert caught.value.code == "nonexistent_time"
    assert "clocks go forward" in caught.value.message


def test_a_repeated_hour_when_clocks_go_back_means_the_first_one():
    first = to_utc(datetime(2027, 10, 31, 1, 30), time_zone="Europe/London")
    assert first == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("minutes", [10, 14, 241, 600])
def test_sessions_last_between_fifteen_minutes_and_four_hours(therapist, minutes):
    group = make_group(therapist)
    with pytest.raises(ServiceError) as caught:
        make_session(group, minutes=minutes)
    assert caught.value.code == "duration_out_of_range"


def test_a_facilitator_cannot_lead_two_sessions_at_once(therapist):
    london = make_group(therapist, time_zone="Europe/London")
    new_york = make_group(therapist, time_zone="America/New_York", title="Evening group")
    first = session_schedule(
        actor=therapist, group=london, starts_local=datetime(2027, 2, 1, 18, 0), duration_minutes=60
    )
    # 13:30 in New York is 18:30 in London: inside the first session.
    with pytest.raises(ServiceError) as caught:
        session_schedule(
            actor=therapist,
            group=new_york,
            starts_local=datetime(2027, 2, 1, 13, 30),
            duration_minutes=60,
        )
    assert caught.value.code == "overlap"
    assert "already leads a session" in caught.value.message
    # Back to back is fine.
    session_schedule(
        actor=therapist,
        group=new_york,
        starts_local=datetime(2027, 2, 1, 14, 0),
        duration_minutes=60,
    )
    # A cancelled session frees its time.
    session_cancel(actor=therapist, session=first, reason="Unwell")
    session_schedule(
        actor=therapist,
        group=london,
        starts_local=datetime(2027, 2, 1, 18, 15),
        duration_minutes=30,
    )


@pytest.mark.postgres
def test_the_database_refuses_overlaps_that_bypass_the_service(therapist):
    from django.db import IntegrityError, transaction

    group = make_group(therapist)
    session = make_session(group, days_ahead=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        GroupSession.objects.create(
            group=group,
            facilitator=therapist,
            starts_at=session.starts_at + timedelta(minutes=30),
            ends_at=session.ends_at + timedelta(minutes=30),
        )


def test_only_sessions_in_the_future(therapist):
    group = make_group(therapist)
    past = to_local(timezone.now() - timedelta(hours=1), time_zone=group.time_zone)
    with pytest.raises(ServiceError, match="in the future"):
        session_schedule(
            actor=therapist,
            group=group,
            starts_local=past.replace(microsecond=0),
            duration_minutes=60,
        )


@pytest.mark.parametrize(
    ("recurrence", "code"),
    [
        (Recurrence(count=53), "count"),
        (Recurrence(), "count_or_until"),
        (Recurrence(count=3, until=date(2027, 3, 1)), "count_or_until"),
        (Recurrence(interval_weeks=5, count=3), "interval"),
        (Recurrence(until=date(2028, 6, 1)), "until"),
        (Recurrence(until=date(2026, 1, 1)), "until_before_start"),
    ],
)
def test_series_rules_out_of_range_are_explained(therapist, recurrence, code):
    group = make_group(therapist)
    with pytest.raises(ServiceError) as caught:
        series_schedule(
            actor=therapist,
            group=group,
            first_start_local=datetime(2027, 2, 2, 18, 0),
            duration_minutes=60,
            recurrence=recurrence,
        )
    assert caught.value.code == code
    assert not GroupSession.objects.exists()


@pytest.mark.parametrize("persona", ["member", "outsider", "peer_supervisor", "superuser"])
def test_only_the_groups_facilitators_schedule(request, therapist, persona):
    group = make_group(therapist)
    with pytest.raises(ServiceError, match="facilitators"):
        session_schedule(
            actor=request.getfixturevalue(persona),
            group=group,
            starts_local=datetime(2027, 2, 2, 18, 0),
            duration_minutes=60,
        )


def test_cancelling_the_rest_of_a_series_tells_members_once_per_session(
    therapist, member, django_capture_on_commit_callbacks
):
    group = make_group(therapist)
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime(2027, 2, 2, 18, 0),
        duration_minutes=60,
        recurrence=Recurrence(count=4),
    )
    make_member(group, member)
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = session_cancel(
            actor=therapist, session=sessions[1], reason="Holiday break", rest_of_series=True
        )
    assert [s.pk for s in cancelled] == [s.pk for s in sessions[1:]]
    for session in sessions:
        session.refresh_from_db()
    assert sessions[0].cancelled_at is None
    assert all(s.cancelled_at and s.cancel_reason == "Holiday break" for s in sessions[1:])
    assert all(s.sequence == 1 for s in sessions[1:])
    assert len(mail.outbox) == 3
    assert {m.subject for m in mail.outbox} == {
        "[Hearth] A session you signed up for has been cancelled"
    }
    assert all("Holiday" not in m.subject and group.title not in m.body for m in mail.outbox)
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_CANCELLED).count() == 3


def test_cancelling_needs_a_reason(therapist):
    session = make_session(make_group(therapist))
    with pytest.raises(ServiceError, match="reason"):
        session_cancel(actor=therapist, session=session, reason="  ")


def test_moving_the_rest_of_a_series_keeps_wall_clock_time_across_the_clock_change(
    therapist, member
):
    group = make_group(therapist, time_zone="Europe/London")
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime(2027, 3, 16, 18, 0),
        duration_minutes=60,
        recurrence=Recurrence(count=4),
    )
    make_member(group, member)
    moved = session_reschedule(
        actor=therapist,
        session=sessions[1],
        starts_local=datetime(2027, 3, 24, 19, 0),  # Tuesday 18:00 -> Wednesday 19:00
        duration_minutes=75,
        reason="Room change",
        rest_of_series=True,
    )
    assert [
        to_local(s.starts_at, time_zone="Europe/London").strftime("%a %d %H:%M") for s in moved
    ] == [
        "Wed 24 19:00",
        "Wed 31 19:00",
        "Wed 07 19:00",
    ]
    assert all(s.ends_at - s.starts_at == timedelta(minutes=75) for s in moved)
    sessions[0].refresh_from_db()
    assert to_local(sessions[0].starts_at, time_zone="Europe/London").hour == 18
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_RESCHEDULED).count() == 3


def test_a_move_that_would_overlap_is_refused_and_changes_nothing(therapist):
    group = make_group(therapist)
    first = session_schedule(
        actor=therapist, group=group, starts_local=datetime(2027, 2, 2, 18, 0), duration_minutes=60
    )
    second = session_schedule(
        actor=therapist, group=group, starts_local=datetime(2027, 2, 2, 20, 0), duration_minutes=60
    )
    with pytest.raises(ServiceError, match="already leads"):
        session_reschedule(
            actor=therapist,
            session=second,
            starts_local=datetime(2027, 2, 2, 18, 30),
            duration_minutes=60,
            reason="Earlier",
        )
    second.refresh_from_db()
    assert to_local(second.starts_at, time_zone=group.time_zone).hour == 20
    assert first.cancelled_at is None


def test_session_status_is_derived_from_facts_and_the_clock(therapist):
    session = make_session(make_group(therapist), days_ahead=1)
    assert session.status_at(session.room_opens_at - timedelta(seconds=1)) == "upcoming"
    assert session.status_at(session.room_opens_at) == "open"
    assert session.status_at(session.starts_at) == "live"
    assert session.status_at(session.ends_at) == "closed"
    session.closed_at = session.starts_at + timedelta(minutes=5)
    assert session.status_at(session.starts_at + timedelta(minutes=6)) == "closed"
    session.cancelled_at = timezone.now()
    assert session.status_at(session.starts_at) == "cancelled"


def test_directory_windows_follow_the_viewers_wall_clock_across_a_clock_change():
    from groups.selectors import local_windows

    now = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)  # a Saturday, before the change on the 28th
    windows = local_windows(now=now, viewer_zone="Europe/London", weekday=1, time_of_day="evening")
    first, second = windows[0], windows[1]
    assert (first[0], first[1]) == (
        datetime(2027, 3, 22, 17, 0, tzinfo=UTC),  # Monday 17:00 GMT
        datetime(2027, 3, 22, 22, 0, tzinfo=UTC),
    )
    assert (second[0], second[1]) == (
        datetime(2027, 3, 29, 16, 0, tzinfo=UTC),  # Monday 17:00 BST
        datetime(2027, 3, 29, 21, 0, tzinfo=UTC),
    )
    night = local_windows(now=now, viewer_zone="Asia/Tokyo", weekday=None, time_of_day="night")
    assert night[0][1] - night[0][0] == timedelta(hours=7)  # 22:00 to 05:00 the next day
    assert len(night) == 61
