"""What the directory reads off the group row (its next session, its places taken) stays true
through every service that changes sessions or places, and through the clock, by the sweep."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.roles import Role
from groups.models import Enrollment, GroupSession, TherapyGroup
from groups.scheduling import Recurrence, to_local
from groups.services import (
    enrollment_admit,
    enrollment_remove,
    enrollment_withdraw,
    group_archive,
    group_update,
    next_sessions_advance,
    series_schedule,
    session_cancel,
    session_end,
    session_extend,
    session_reschedule,
)
from groups.tasks import advance_next_sessions
from tests.concurrency import at_once
from tests.factories import UserFactory, make_group, make_member, make_session

pytestmark = pytest.mark.django_db


def stored(group: TherapyGroup) -> tuple[datetime | None, datetime | None, int]:
    group.refresh_from_db()
    return group.next_session_starts_at, group.next_session_closes_at, group.seats_taken


def truth(group: TherapyGroup, now: datetime) -> tuple[datetime | None, datetime | None, int]:
    """The same three, worked out from the sessions and enrollments themselves."""
    upcoming = sorted(
        (s for s in group.sessions.all() if s.cancelled_at is None and s.closes_at > now),
        key=lambda s: (s.starts_at, s.pk),
    )
    taken = group.enrollments.filter(state=Enrollment.State.ACTIVE).count()
    if not upcoming:
        return None, None, taken
    return upcoming[0].starts_at, upcoming[0].closes_at, taken


def assert_true(group: TherapyGroup) -> None:
    assert stored(group) == truth(group, timezone.now())


def open_now(session: GroupSession) -> GroupSession:
    """Move ``session`` onto the clock (started five minutes ago, 55 left), and its group's row
    with it, as if it had been scheduled for then: what the services would have stored."""
    now = timezone.now()
    starts, ends = now - timedelta(minutes=5), now + timedelta(minutes=55)
    GroupSession.objects.filter(pk=session.pk).update(starts_at=starts, ends_at=ends)
    TherapyGroup.objects.filter(pk=session.group_id).update(
        next_session_starts_at=starts, next_session_closes_at=ends
    )
    session.refresh_from_db()
    return session


def let_time_pass(group: TherapyGroup, delta: timedelta) -> None:
    """What ``delta`` passing looks like to ``group`` when nothing writes meanwhile: its
    sessions, and the next session stored on its row, all move ``delta`` into the past."""
    GroupSession.objects.filter(group=group).update(
        starts_at=F("starts_at") - delta, ends_at=F("ends_at") - delta
    )
    TherapyGroup.objects.filter(pk=group.pk, next_session_starts_at__isnull=False).update(
        next_session_starts_at=F("next_session_starts_at") - delta,
        next_session_closes_at=F("next_session_closes_at") - delta,
    )


# --- Places --------------------------------------------------------------------------------------


def test_joining_counts_a_place_and_the_waiting_list_does_not(therapist):
    group = make_group(therapist, capacity=2)
    assert stored(group)[2] == 0
    make_member(group)
    make_member(group)
    waiting = make_member(group)
    assert waiting.state == Enrollment.State.WAITLISTED
    assert stored(group)[2] == 2
    assert_true(group)


def test_leaving_frees_a_place_unless_someone_waiting_takes_it(therapist):
    group = make_group(therapist, capacity=2)
    first, second = make_member(group), make_member(group)
    waiting = make_member(group)
    enrollment_withdraw(actor=first.user, enrollment=first)
    waiting.refresh_from_db()
    assert waiting.state == Enrollment.State.ACTIVE  # promoted: still two places taken
    assert stored(group)[2] == 2
    enrollment_withdraw(actor=second.user, enrollment=second)
    assert stored(group)[2] == 1
    assert_true(group)


def test_removal_frees_a_place(therapist):
    group = make_group(therapist, capacity=3)
    member = make_member(group)
    make_member(group)
    enrollment_remove(actor=therapist, enrollment=member, reason="Repeated abuse.")
    assert stored(group)[2] == 1
    assert_true(group)


def test_admitting_by_hand_counts_past_the_capacity(therapist):
    group = make_group(therapist, capacity=2)
    make_member(group), make_member(group)
    waiting = make_member(group)
    enrollment_admit(actor=therapist, enrollment=waiting)
    assert stored(group)[2] == 3
    assert_true(group)


def test_raising_the_capacity_counts_the_people_it_lets_in(therapist):
    group = make_group(therapist, capacity=2)
    make_member(group), make_member(group), make_member(group), make_member(group)
    assert stored(group)[2] == 2
    group_update(actor=therapist, group=group, capacity=3)
    assert stored(group)[2] == 3
    assert_true(group)


# --- The next session -----------------------------------------------------------------------------


def test_scheduling_sets_the_next_session_and_an_earlier_one_takes_its_place(therapist):
    group = make_group(therapist)
    assert stored(group)[:2] == (None, None)
    later = make_session(group, days_ahead=9)
    assert stored(group)[:2] == (later.starts_at, later.ends_at)
    earlier = make_session(group, days_ahead=3)
    assert stored(group)[:2] == (earlier.starts_at, earlier.ends_at)
    make_session(group, days_ahead=12)
    assert stored(group)[:2] == (earlier.starts_at, earlier.ends_at)
    assert_true(group)


def test_a_series_sets_the_next_session_to_its_first(therapist):
    group = make_group(therapist)
    local = to_local(timezone.now(), time_zone=group.time_zone) + timedelta(days=2)
    sessions = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=local.replace(hour=18, minute=0, second=0, microsecond=0, tzinfo=None),
        duration_minutes=60,
        recurrence=Recurrence(count=4),
    )
    assert stored(group)[0] == sessions[0].starts_at
    assert_true(group)


def test_cancelling_the_next_session_moves_it_on_and_the_rest_of_a_series_clears_it(therapist):
    group = make_group(therapist)
    local = to_local(timezone.now(), time_zone=group.time_zone) + timedelta(days=2)
    first, second, *_ = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=local.replace(hour=18, minute=0, second=0, microsecond=0, tzinfo=None),
        duration_minutes=60,
        recurrence=Recurrence(count=3),
    )
    session_cancel(actor=therapist, session=first, reason="I am unwell.")
    assert stored(group)[0] == second.starts_at
    session_cancel(actor=therapist, session=second, reason="Closing early.", rest_of_series=True)
    assert stored(group)[:2] == (None, None)
    assert_true(group)


def test_moving_the_next_session_after_another_makes_that_one_next(therapist):
    group = make_group(therapist)
    first = make_session(group, days_ahead=2)
    second = make_session(group, days_ahead=4)
    local = to_local(first.starts_at, time_zone=group.time_zone) + timedelta(days=5)
    [moved] = session_reschedule(
        actor=therapist,
        session=first,
        starts_local=local.replace(tzinfo=None),
        duration_minutes=90,
        reason="A holiday.",
    )
    assert stored(group)[:2] == (second.starts_at, second.ends_at)
    assert moved.starts_at > second.starts_at
    assert_true(group)


def test_extending_the_session_under_way_moves_when_it_closes(therapist):
    group = make_group(therapist)
    session = open_now(make_session(group, days_ahead=5))
    extended = session_extend(actor=therapist, session=session, minutes=10)
    assert stored(group)[:2] == (session.starts_at, extended.ends_at)
    assert extended.ends_at == session.ends_at + timedelta(minutes=10)
    assert_true(group)


def test_ending_the_session_under_way_early_makes_the_following_one_next(therapist):
    group = make_group(therapist)
    following = make_session(group, days_ahead=7)
    session = open_now(make_session(group, days_ahead=5))
    session_end(actor=therapist, session=session)
    assert stored(group)[:2] == (following.starts_at, following.ends_at)
    assert_true(group)


def test_archiving_clears_the_next_session(therapist):
    group = make_group(therapist)
    make_session(group, days_ahead=3)
    group_archive(actor=therapist, group=group)
    assert stored(group)[:2] == (None, None)
    assert_true(group)


# --- The clock and the sweep ----------------------------------------------------------------------


def test_the_sweep_moves_a_closed_next_session_on_once(therapist):
    group = make_group(therapist)
    first = make_session(group, days_ahead=2)
    second = make_session(group, days_ahead=4)
    quiet = make_group(therapist, title="Nothing changes here")
    make_session(quiet, days_ahead=30)
    assert next_sessions_advance(now=first.starts_at + timedelta(minutes=30)) == 0  # under way
    after_first = first.ends_at + timedelta(seconds=1)
    assert next_sessions_advance(now=after_first) == 1
    assert stored(group)[:2] == (second.starts_at, second.ends_at)
    assert next_sessions_advance(now=after_first) == 0  # safe to run twice
    assert next_sessions_advance(now=second.ends_at) == 1
    assert stored(group)[:2] == (None, None)
    assert stored(quiet)[0] is not None


def test_the_sweep_follows_the_clock_as_it_passes(therapist):
    group = make_group(therapist)
    make_session(group, days_ahead=1)
    following = make_session(group, days_ahead=3)
    let_time_pass(group, timedelta(days=2))  # the first has ended; nothing has written since
    following.refresh_from_db()
    assert stored(group)[1] < timezone.now()  # stale
    assert advance_next_sessions() == 1  # the beat task
    assert stored(group)[:2] == (following.starts_at, following.ends_at)
    assert_true(group)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_sweep_leaves_a_group_a_service_holds_and_takes_it_next_time(request):
    therapist = request.getfixturevalue("therapist")
    group = make_group(therapist)
    first = make_session(group, days_ahead=2)
    later = first.ends_at + timedelta(seconds=1)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                TherapyGroup.objects.select_for_update().get(pk=group.pk)
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(timeout=30)
        assert next_sessions_advance(now=later) == 0  # not waiting for the lock either
    finally:
        release.set()
        holder.join(timeout=30)
    assert next_sessions_advance(now=later) == 1
    assert stored(group)[:2] == (None, None)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_sweeps_at_once_move_each_group_once(request):
    therapist = request.getfixturevalue("therapist")
    others = [UserFactory(roles=[Role.THERAPIST]) for _ in range(3)]
    groups = [make_group(lead, title=f"Group {i}") for i, lead in enumerate([therapist, *others])]
    ends = max(make_session(group, days_ahead=2).ends_at for group in groups)
    later = ends + timedelta(seconds=1)
    moved = at_once(
        lambda: next_sessions_advance(now=later), lambda: next_sessions_advance(now=later)
    )
    assert sum(moved) == len(groups)
    assert all(stored(group)[:2] == (None, None) for group in groups)
