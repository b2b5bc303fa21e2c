"""Scheduling: one-off sessions and weekly series in the group's zone, across clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
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
from tests.dates import (
    MONDAY,
    THURSDAY,
    TUESDAY,
    after,
    before,
    fall_back,
    in_winter,
    local_today,
    spring_forward,
)
from tests.factories import make_group, make_member, make_session

pytestmark = pytest.mark.django_db


def utc_hours(sessions):
    return [s.starts_at.astimezone(UTC).hour for s in sessions]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute))


def test_tuesdays_at_six_for_eight_weeks_stay_at_six_in_london_across_the_clock_change(therapist):
    group = make_group(therapist, time_zone="Europe/London")
    # Three Tuesdays before the clocks go forward (on a Sunday), five after.
    change = spring_forward("Europe/London")
    first = after(change, TUESDAY) - timedelta(weeks=3)
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=at(first, 18),
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
    ny_spring, ny_autumn = spring_forward("America/New_York"), fall_back("America/New_York")
    london_spring, london_autumn = spring_forward("Europe/London"), fall_back("Europe/London")
    # From two Thursdays before the clocks go forward in New York to weeks after they go back.
    in_the_gap = after(ny_spring, THURSDAY)  # New York has changed, London not yet
    assert in_the_gap < london_spring
    first, until = in_the_gap - timedelta(weeks=4), ny_autumn + timedelta(weeks=3)
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=at(first, 19, 30),
        duration_minutes=90,
        recurrence=Recurrence(interval_weeks=2, until=until),
    )
    locals_ = [to_local(s.starts_at, time_zone="America/New_York") for s in sessions]
    weeks = (until - first).days // 14 + 1
    assert [d.date() for d in locals_] == [first + timedelta(weeks=2 * i) for i in range(weeks)]
    assert locals_[0].date() < ny_spring < ny_autumn < locals_[-1].date()
    assert {d.strftime("%a %H:%M") for d in locals_} == {"Thu 19:30"}
    # In UTC the session is an hour earlier while New York keeps summer time (UTC-4).
    assert [s.starts_at.astimezone(UTC).strftime("%a %H:%M") for s in sessions] == [
        "Thu 23:30" if ny_spring <= d.date() < ny_autumn else "Fri 00:30" for d in locals_
    ]
    # A London viewer: London changes its clocks on other dates, so for a week or more in
    # spring and in autumn New York is only four hours behind.
    london = [s.starts_at.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") for s in sessions]
    assert london == [
        "23:30"
        if ny_spring <= d.date() < london_spring or london_autumn <= d.date() < ny_autumn
        else "00:30"
        for d in locals_
    ]
    assert london[0] == "00:30"
    assert london[2] == "23:30"  # the Thursday in the spring gap
    assert sessions[0].series.rule == f"FREQ=WEEKLY;INTERVAL=2;UNTIL={until:%Y%m%d}T235959"


@pytest.mark.parametrize(
    ("zone", "weekday", "hour", "utc_before", "utc_after", "tokyo_before", "tokyo_after"),
    [
        # London: BST (UTC+1) until the last Sunday of October, then GMT.
        ("Europe/London", TUESDAY, 18, "Tue 17:00", "Tue 18:00", "Wed 02:00", "Wed 03:00"),
        # New York: EDT (UTC-4) until the first Sunday of November, then EST (UTC-5).
        ("America/New_York", THURSDAY, 19, "Thu 23:00", "Fri 00:00", "Fri 08:00", "Fri 09:00"),
    ],
)
def test_a_weekly_series_keeps_its_wall_clock_time_when_the_clocks_go_back(
    therapist, zone, weekday, hour, utc_before, utc_after, tokyo_before, tokyo_after
):
    group = make_group(therapist, time_zone=zone)
    change = fall_back(zone)
    first = after(change, weekday) - timedelta(weeks=3)
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=at(first, hour),
        duration_minutes=60,
        recurrence=Recurrence(count=6),
    )
    # The group's wall clock stays put...
    assert [to_local(s.starts_at, time_zone=zone) for s in sessions] == [
        at(first + timedelta(weeks=week), hour) for week in range(6)
    ]
    # ...so the instant moves an hour later, in UTC and for a viewer in Tokyo.
    assert [s.starts_at.astimezone(UTC).strftime("%a %H:%M") for s in sessions] == (
        [utc_before] * 3 + [utc_after] * 3
    )
    tokyo = [s.starts_at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%a %H:%M") for s in sessions]
    assert tokyo == [tokyo_before] * 3 + [tokyo_after] * 3
    gaps = [later.starts_at - earlier.starts_at for earlier, later in pairwise(sessions)]
    week = timedelta(weeks=1)
    assert gaps == [week, week, week + timedelta(hours=1), week, week]
    assert all(s.ends_at - s.starts_at == timedelta(hours=1) for s in sessions)


def session_on(therapist, zone, local):
    group = make_group(therapist, time_zone=zone, title=f"Group {local:%j%H}")
    return session_schedule(actor=therapist, group=group, starts_local=local, duration_minutes=60)


def test_a_time_skipped_by_the_clock_change_is_refused_with_a_reason(therapist):
    group = make_group(therapist, time_zone="Europe/London")
    with pytest.raises(ServiceError) as caught:
        session_schedule(
            actor=therapist,
            group=group,
            starts_local=at(spring_forward("Europe/London"), 1, 30),
            duration_minutes=60,
        )
    assert caught.value.code == "nonexistent_time"
    assert "clocks go forward" in caught.value.message
    assert not GroupSession.objects.exists()


def test_a_repeated_hour_when_clocks_go_back_means_the_first_one():
    day = fall_back("Europe/London")
    first = to_utc(at(day, 1, 30), time_zone="Europe/London")
    assert first == datetime.combine(day, time(0, 30), tzinfo=UTC)
    later = to_utc(at(day, 2, 30), time_zone="Europe/London")
    assert later - first == timedelta(hours=2)  # 01:30 happens twice; the first one is meant


@pytest.mark.parametrize("minutes", [10, 14, 241, 600])
def test_sessions_last_between_fifteen_minutes_and_four_hours(therapist, minutes):
    group = make_group(therapist)
    with pytest.raises(ServiceError) as caught:
        make_session(group, minutes=minutes)
    assert caught.value.code == "duration_out_of_range"


def test_a_facilitator_cannot_lead_two_sessions_at_once(therapist):
    london = make_group(therapist, time_zone="Europe/London")
    new_york = make_group(therapist, time_zone="America/New_York", title="Evening group")
    monday = in_winter(MONDAY)
    first = session_schedule(
        actor=therapist, group=london, starts_local=at(monday, 18), duration_minutes=60
    )
    # 13:30 in New York is 18:30 in London: inside the first session.
    with pytest.raises(ServiceError) as caught:
        session_schedule(
            actor=therapist,
            group=new_york,
            starts_local=at(monday, 13, 30),
            duration_minutes=60,
        )
    assert caught.value.code == "overlap"
    assert "already leads a session" in caught.value.message
    # Back to back is fine.
    session_schedule(
        actor=therapist,
        group=new_york,
        starts_local=at(monday, 14),
        duration_minutes=60,
    )
    # A cancelled session frees its time.
    session_cancel(actor=therapist, session=first, reason="Unwell")
    session_schedule(
        actor=therapist,
        group=london,
        starts_local=at(monday, 18, 15),
        duration_minutes=30,
    )


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
    ("interval_weeks", "count", "until_after_days", "code"),
    [
        (1, 53, None, "count"),
        (1, None, None, "count_or_until"),
        (1, 3, 27, "count_or_until"),
        (5, 3, None, "interval"),
        (1, None, 485, "until"),  # more than a year after the first session
        (1, None, -397, "until_before_start"),
    ],
)
def test_series_rules_out_of_range_are_explained(
    therapist, interval_weeks, count, until_after_days, code
):
    group = make_group(therapist)
    first = in_winter(TUESDAY)
    until = None if until_after_days is None else first + timedelta(days=until_after_days)
    with pytest.raises(ServiceError) as caught:
        series_schedule(
            actor=therapist,
            group=group,
            first_start_local=at(first, 18),
            duration_minutes=60,
            recurrence=Recurrence(interval_weeks=interval_weeks, count=count, until=until),
        )
    assert caught.value.code == code
    assert not GroupSession.objects.exists()


def two_years_from_today(zone: str) -> date:
    return local_today(zone) + timedelta(days=731)


@pytest.mark.parametrize("zone", ["Europe/London", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
@pytest.mark.parametrize(
    ("first", "count", "code"),
    [
        (datetime(9999, 12, 31, 23, 30), None, "too_far_ahead"),
        (datetime(9999, 12, 25, 18, 0), 52, "too_far_ahead"),
        (datetime(1, 1, 1, 0, 0), None, ("in_the_past", "out_of_range")),
        ("the day after two years from today", None, "too_far_ahead"),
        ("eight weeks before two years from today", 52, "too_far_ahead"),
    ],
)
def test_dates_beyond_two_years_are_refused_by_the_service_and_never_crash(
    therapist, zone, first, count, code
):
    group = make_group(therapist, time_zone=zone)
    if first == "the day after two years from today":
        first = at(two_years_from_today(zone) + timedelta(days=1), 10)
    elif first == "eight weeks before two years from today":
        first = at(two_years_from_today(zone) - timedelta(weeks=8), 10)
    with pytest.raises(ServiceError) as caught:
        if count is None:
            session_schedule(actor=therapist, group=group, starts_local=first, duration_minutes=60)
        else:
            series_schedule(
                actor=therapist,
                group=group,
                first_start_local=first,
                duration_minutes=60,
                recurrence=Recurrence(count=count),
            )
    assert caught.value.code in (code if isinstance(code, tuple) else (code,))
    assert "two years" in caught.value.message or "future" in caught.value.message
    assert not GroupSession.objects.exists()


def test_the_last_day_two_years_ahead_can_still_be_planned(therapist):
    group = make_group(therapist, time_zone="Pacific/Kiritimati")
    session = session_schedule(
        actor=therapist,
        group=group,
        starts_local=at(two_years_from_today("Pacific/Kiritimati"), 23, 45),
        duration_minutes=240,
    )
    assert session.ends_at - session.starts_at == timedelta(hours=4)


def test_a_recurrence_running_off_the_end_of_the_calendar_is_refused_plainly():
    with pytest.raises(ServiceError) as caught:
        Recurrence(count=52).starts(datetime(9999, 12, 25, 18, 0))
    assert caught.value.code == "out_of_range"
    with pytest.raises(ServiceError) as caught:
        to_utc(datetime(9999, 12, 31, 23, 30), time_zone="America/New_York")
    assert caught.value.code == "out_of_range"


@pytest.mark.parametrize("rest_of_series", [False, True])
@pytest.mark.parametrize(
    "new_start", [datetime(9999, 12, 31, 23, 30), datetime(9999, 12, 20, 18, 0), "two years"]
)
def test_moving_a_session_beyond_two_years_is_refused_and_changes_nothing(
    therapist, member, new_start, rest_of_series
):
    group = make_group(therapist, time_zone="America/New_York")
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=at(local_today(group.time_zone) + timedelta(days=3), 18),
        duration_minutes=60,
        recurrence=Recurrence(count=3),
    )
    if new_start == "two years":  # the moved session fits, the rest of the series would not
        new_start = at(two_years_from_today(group.time_zone) - timedelta(days=1), 18)
        if not rest_of_series:
            new_start += timedelta(days=2)
    with pytest.raises(ServiceError) as caught:
        session_reschedule(
            actor=therapist,
            session=sessions[0],
            starts_local=new_start,
            duration_minutes=60,
            reason="Later",
            rest_of_series=rest_of_series,
        )
    assert caught.value.code == "too_far_ahead"
    assert "up to two years ahead" in caught.value.message
    after_refusal = list(GroupSession.objects.order_by("starts_at"))
    assert [(s.starts_at, s.sequence) for s in after_refusal] == [
        (s.starts_at, 0) for s in sessions
    ]


@pytest.mark.parametrize("persona", ["member", "outsider", "peer_supervisor", "superuser"])
def test_only_the_groups_facilitators_schedule(request, therapist, persona):
    group = make_group(therapist)
    with pytest.raises(ServiceError, match="facilitators"):
        session_schedule(
            actor=request.getfixturevalue(persona),
            group=group,
            starts_local=at(in_winter(TUESDAY), 18),
            duration_minutes=60,
        )


def test_cancelling_the_rest_of_a_series_tells_members_once_per_session(
    therapist, member, django_capture_on_commit_callbacks
):
    group = make_group(therapist)
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=at(in_winter(TUESDAY), 18),
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
    # Tuesdays: two before the clocks go forward, two after. The second one moves to the
    # Wednesday after it, still before the change, and the later ones follow it across.
    second = before(spring_forward("Europe/London"), TUESDAY)
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=at(second - timedelta(weeks=1), 18),
        duration_minutes=60,
        recurrence=Recurrence(count=4),
    )
    make_member(group, member)
    moved = session_reschedule(
        actor=therapist,
        session=sessions[1],
        starts_local=at(second + timedelta(days=1), 19),  # Tuesday 18:00 -> Wednesday 19:00
        duration_minutes=75,
        reason="Room change",
        rest_of_series=True,
    )
    assert [
        to_local(s.starts_at, time_zone="Europe/London").strftime("%a %d %H:%M") for s in moved
    ] == [f"Wed {second + timedelta(days=1 + 7 * week):%d} 19:00" for week in range(3)]
    assert utc_hours(moved) == [19, 18, 18]
    assert all(s.ends_at - s.starts_at == timedelta(minutes=75) for s in moved)
    sessions[0].refresh_from_db()
    assert to_local(sessions[0].starts_at, time_zone="Europe/London").hour == 18
    assert AuditEvent.objects.filter(action=AuditAction.SESSION_RESCHEDULED).count() == 3


def test_a_move_that_would_overlap_is_refused_and_changes_nothing(therapist):
    group = make_group(therapist)
    day = in_winter(TUESDAY)
    first = session_schedule(
        actor=therapist, group=group, starts_local=at(day, 18), duration_minutes=60
    )
    second = session_schedule(
        actor=therapist, group=group, starts_local=at(day, 20), duration_minutes=60
    )
    with pytest.raises(ServiceError, match="already leads"):
        session_reschedule(
            actor=therapist,
            session=second,
            starts_local=at(day, 18, 30),
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
