"""The written reads behind My schedule and "Groups I lead" give what the ORM gives, and the
places and next session read off the group row stay right through every change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from groups import selectors
from groups.checkout import checkout_open_at
from groups.models import CHECKOUT_WINDOW, CheckOut, Enrollment, GroupSession, TherapyGroup
from groups.scheduling import to_local
from groups.selectors import (
    CheckOutDue,
    DashboardGroupRow,
    GroupLink,
    InvitationLink,
    SessionRow,
    WaitingPlace,
)
from groups.services import (
    checkout_answer,
    co_facilitator_add,
    enrollment_admit,
    enrollment_create,
    enrollment_remove,
    enrollment_withdraw,
    group_archive,
    invitation_accept,
    invitation_revoke,
    invitation_send,
    session_cancel,
    session_end,
    session_reschedule,
)
from groups.services.listing import store_next_session
from tests.factories import (
    UserFactory,
    accept_guidelines,
    make_group,
    make_member,
    make_series,
    make_session,
)

pytestmark = pytest.mark.django_db


# --- What the ORM gives (the reads these pages made before they were written as SQL) -----------


def _row(session: GroupSession, now) -> SessionRow:
    status = session.status_at(now)
    return SessionRow(
        pk=session.pk,
        group=GroupLink(title=session.group.title, slug=session.group.slug),
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        cancelled_at=session.cancelled_at,
        cancel_reason=session.cancel_reason,
        rescheduled_at=session.rescheduled_at,
        reschedule_reason=session.reschedule_reason,
        status=status,
        room_is_open=status in (GroupSession.Status.OPEN, GroupSession.Status.LIVE),
    )


def orm_schedule(user, now) -> list[SessionRow]:
    sessions = (
        GroupSession.objects.not_over(now)
        .filter(
            group_id__in=selectors._my_group_ids(user),
            starts_at__lt=now + timedelta(days=selectors.MY_SCHEDULE_DAYS),
        )
        .select_related("group")
        .order_by("starts_at", "pk")[: selectors.MY_SCHEDULE_LIMIT]
    )
    return [_row(session, now) for session in sessions]


def orm_facilitated_sessions(user, now) -> list[SessionRow]:
    sessions = (
        GroupSession.objects.not_over(now)
        .filter(
            group_id__in=selectors.groups_facilitated_by(user).values("pk"),
            starts_at__lt=now + timedelta(days=7),
        )
        .select_related("group")
        .order_by("starts_at", "pk")[:30]
    )
    return [_row(session, now) for session in sessions]


def orm_lists(user, now) -> selectors.MyLists:
    waiting = (
        selectors.with_waitlist_place(
            Enrollment.objects.filter(user=user, state=Enrollment.State.WAITLISTED)
        )
        .select_related("group")
        .order_by("created_at", "pk")
    )
    invitations = (
        selectors.Invitation.objects.addressed_to(user)
        .pending(now)
        .filter(group__archived_at__isnull=True)
        .select_related("group")
        .order_by("created_at", "pk")
    )
    mine = CheckOut.objects.filter(session=OuterRef("pk"), user=user).values("feeling")[:1]
    ended = (
        GroupSession.objects.filter(
            group__enrollments__user=user,
            group__enrollments__state=Enrollment.State.ACTIVE,
            cancelled_at__isnull=True,
            ends_at__gt=now - CHECKOUT_WINDOW,
            starts_at__lt=now,
        )
        .filter(Q(closed_at__lte=now) | Q(closed_at__isnull=True, ends_at__lte=now))
        .annotate(my_feeling=Subquery(mine))
        .select_related("group")
        .order_by("-starts_at", "-pk")
    )
    return selectors.MyLists(
        waiting=[
            WaitingPlace(group=GroupLink(title=e.group.title, slug=e.group.slug), place=e.place)
            for e in waiting.annotate(place=F("waitlist_place"))
        ],
        invitations=[
            InvitationLink(
                group=GroupLink(title=i.group.title, slug=i.group.slug),
                token=i.token,
                expires_at=i.expires_at,
            )
            for i in invitations
        ],
        checkouts=[
            CheckOutDue(
                pk=s.pk,
                group=GroupLink(title=s.group.title, slug=s.group.slug),
                starts_at=s.starts_at,
                my_feeling=s.my_feeling,
            )
            for s in ended
            if checkout_open_at(s, now)
        ],
    )


def orm_facilitated_groups(user, now) -> list[DashboardGroupRow]:
    groups = selectors._with_next_session(
        selectors._with_seats(selectors.groups_facilitated_by(user)), now
    ).order_by(F("archived_at").asc(nulls_first=True), "title", "pk")
    return [
        DashboardGroupRow(
            title=g.title,
            slug=g.slug,
            active_count=g.active_count,
            capacity=g.capacity,
            waitlist_count=g.waitlist_count,
            next_starts_at=g.next_starts_at,
            archived_at=g.archived_at,
            is_closed=g.is_closed,
            is_listed=g.is_listed,
        )
        for g in groups
    ]


# --- A world with a bit of everything -----------------------------------------------------------


def _move(session: GroupSession, *, starts_in: timedelta, minutes: int = 60) -> GroupSession:
    """Put a session on the clock directly (the services refuse the past), and store the
    group's next session again as they would."""
    starts = timezone.now() + starts_in
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=starts, ends_at=starts + timedelta(minutes=minutes)
    )
    session.refresh_from_db()
    store_next_session(TherapyGroup.objects.get(pk=session.group_id), now=timezone.now())
    return session


@pytest.fixture
def world(therapist):
    person = UserFactory(email="Person@Example.org")
    accept_guidelines(person)
    led = make_group(therapist, title="Led here", capacity=2)
    joined = make_group(therapist, title="Joined", capacity=3)
    full = make_group(therapist, title="Full", capacity=2)
    left = make_group(therapist, title="Left")
    closed = make_group(therapist, title="By invitation", is_closed=True)
    closed_too = make_group(therapist, title="Also by invitation", is_closed=True)
    archived = make_group(therapist, title="Archived", is_closed=True)
    second = make_group(UserFactory(roles=[Role.THERAPIST]), title="Second")
    co_facilitator_add(actor=second.facilitator, group=second, user=therapist)

    # Sessions: coming, under way, ended early, cancelled, past, beyond four weeks, many.
    make_series(joined, count=12, days_ahead=1)
    make_series(led, count=6, days_ahead=2, hour=9)
    make_series(second, count=3, days_ahead=3, hour=12)
    _move(make_session(second, days_ahead=40), starts_in=timedelta(minutes=-20), minutes=25)
    _move(make_session(second, days_ahead=41), starts_in=timedelta(minutes=7), minutes=30)
    session_cancel(actor=therapist, session=make_session(joined, days_ahead=5), reason="Unwell")
    make_session(joined, days_ahead=30)
    moved = make_session(led, days_ahead=6)
    session_reschedule(
        actor=therapist,
        session=moved,
        starts_local=to_local(moved.starts_at, time_zone=led.time_zone)
        + timedelta(days=1, hours=2),
        duration_minutes=60,
        reason="Room booked",
    )
    make_session(left, days_ahead=2)

    # Places: a member of two groups, waiting for one, gone from another.
    make_member(joined, person)
    make_member(second, person)
    make_member(left, person)
    enrollment_withdraw(actor=person, enrollment=Enrollment.objects.get(user=person, group=left))
    make_member(full), make_member(full), make_member(full)
    make_member(full, person)  # 2nd on the list
    ahead = Enrollment.objects.filter(group=full, state="waitlisted").order_by("pk").first()
    enrollment_withdraw(actor=ahead.user, enrollment=ahead)  # now next
    make_member(full)  # behind them
    make_member(led), make_member(led), make_member(led), make_member(led)

    # Check-outs: ended ten minutes ago (one answered), ended early, a day and more ago,
    # cancelled, and in a group they only wait for.
    answered = _move(make_session(joined, days_ahead=50, hour=6), starts_in=timedelta(minutes=-70))
    five_ago = _move(make_session(joined, days_ahead=51, hour=6), starts_in=timedelta(hours=-5))
    _move(make_session(joined, days_ahead=52, hour=6), starts_in=timedelta(hours=-26))
    ended_early = _move(
        make_session(joined, days_ahead=53, hour=6), starts_in=timedelta(minutes=-10)
    )
    session_end(actor=therapist, session=ended_early)
    cancelled = make_session(joined, days_ahead=54, hour=6)
    session_cancel(actor=therapist, session=cancelled, reason="Unwell")
    _move(cancelled, starts_in=timedelta(hours=-3))
    _move(make_session(full, days_ahead=55, hour=6), starts_in=timedelta(hours=-7))
    checkout_answer(actor=person, session=answered, feeling=4, words="", now=timezone.now())
    neighbour = make_member(joined).user
    checkout_answer(actor=neighbour, session=five_ago, feeling=2, words="", now=timezone.now())
    # Due to end within the day, but ended early more than a day ago: its check-out is over.
    long_ago = make_session(second, days_ahead=56, hour=6, minutes=240)
    long_ago = _move(long_ago, starts_in=timedelta(hours=-27), minutes=240)
    GroupSession.objects.filter(pk=long_ago.pk).update(
        closed_at=timezone.now() - timedelta(hours=25)
    )

    # Invitations: to them, to their address in another case, expired, withdrawn, accepted,
    # and to a group since archived.
    invitation_send(actor=therapist, group=closed, email=person.email)
    invitation_send(actor=therapist, group=closed_too, email="someone.new@example.org")
    newcomer = UserFactory(email="SOMEONE.NEW@example.org")
    invitation_send(actor=therapist, group=closed_too, email="person@example.org")
    expired = invitation_send(actor=therapist, group=archived, email="later@example.org")
    selectors.Invitation.objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(hours=1)
    )
    invitation_revoke(
        actor=therapist,
        invitation=invitation_send(actor=therapist, group=closed, email="x@example.org"),
    )
    accepted = invitation_send(actor=therapist, group=closed, email="y@example.org")
    invitee = UserFactory(email="y@example.org")
    accept_guidelines(invitee)
    invitation_accept(actor=invitee, invitation=accepted)
    invitation_send(actor=therapist, group=archived, email=person.email)
    group_archive(actor=therapist, group=archived)
    return {"person": person, "newcomer": newcomer, "therapist": therapist, "second": second}


def test_my_schedule_reads_the_sessions_the_orm_reads(world, member):
    now = timezone.now()
    for user in (world["person"], world["therapist"], world["second"].facilitator, member):
        assert selectors.my_schedule(user=user, now=now) == orm_schedule(user, now)
    rows = selectors.my_schedule(user=world["person"], now=now)
    assert {row.status for row in rows} == {"upcoming", "open", "live", "closed", "cancelled"}
    assert {row.group.title for row in rows} == {"Joined", "Second"}


def test_my_schedule_stops_at_its_limit_as_the_orm_does(therapist):
    group = make_group(therapist)
    soon = timezone.now() + timedelta(hours=1)
    GroupSession.objects.bulk_create(
        GroupSession(
            group=group,
            facilitator=therapist,
            starts_at=soon + timedelta(hours=hours),
            ends_at=soon + timedelta(hours=hours, minutes=30),
        )
        for hours in range(0, (selectors.MY_SCHEDULE_LIMIT + 5) * 12, 12)
    )
    now = timezone.now()
    rows = selectors.my_schedule(user=therapist, now=now)
    assert len(rows) == selectors.MY_SCHEDULE_LIMIT
    assert rows == orm_schedule(therapist, now)


def test_groups_i_lead_reads_the_sessions_the_orm_reads(world):
    now = timezone.now()
    for user in (world["therapist"], world["second"].facilitator, world["person"]):
        assert selectors.facilitated_sessions(user=user, now=now) == orm_facilitated_sessions(
            user, now
        )
    assert selectors.facilitated_sessions(user=world["therapist"], now=now)


def test_waiting_lists_invitations_and_check_outs_are_those_the_orm_reads(world):
    now = timezone.now()
    for user in (world["person"], world["newcomer"], world["therapist"]):
        assert selectors.my_lists(user=user, now=now) == orm_lists(user, now)
    lists = selectors.my_lists(user=world["person"], now=now)
    assert [w.place for w in lists.waiting] == [1]
    assert [i.group.title for i in lists.invitations] == ["By invitation", "Also by invitation"]
    assert [(c.group.title, c.my_feeling) for c in lists.checkouts] == [
        ("Joined", None),
        ("Joined", 4),
        ("Joined", None),
    ]
    assert [i.group.title for i in selectors.my_lists(user=world["newcomer"], now=now).invitations]
    assert selectors.my_lists(user=world["therapist"], now=now) == selectors.MyLists([], [], [])


def test_groups_i_lead_reads_the_places_and_next_sessions_the_orm_counts(world):
    now = timezone.now()
    for user in (world["therapist"], world["second"].facilitator, world["person"]):
        assert selectors.facilitated_groups(user=user, now=now) == orm_facilitated_groups(user, now)
    rows = {
        row.title: row for row in selectors.facilitated_groups(user=world["therapist"], now=now)
    }
    assert (rows["Full"].active_count, rows["Full"].waitlist_count) == (2, 2)
    assert (rows["Led here"].active_count, rows["Led here"].waitlist_count) == (2, 2)
    assert rows["Archived"].archived_at is not None
    assert list(rows)[-1] == "Archived"


def test_a_next_session_stored_and_since_closed_is_worked_out_from_the_sessions(therapist):
    group = make_group(therapist, title="Stale")
    first = make_session(group, days_ahead=2)
    second = make_session(group, days_ahead=5)
    # The first session has been and gone; the sweep has not moved the row on yet.
    first = _move(first, starts_in=timedelta(hours=-2))
    TherapyGroup.objects.filter(pk=group.pk).update(
        next_session_starts_at=first.starts_at, next_session_closes_at=first.ends_at
    )
    now = timezone.now()
    [row] = selectors.facilitated_groups(user=therapist, now=now)
    assert row.next_starts_at == second.starts_at
    assert [row] == orm_facilitated_groups(therapist, now)
    session_cancel(actor=therapist, session=second, reason="Unwell")
    TherapyGroup.objects.filter(pk=group.pk).update(
        next_session_starts_at=first.starts_at, next_session_closes_at=first.ends_at
    )
    [row] = selectors.facilitated_groups(user=therapist, now=timezone.now())
    assert row.next_starts_at is None


# --- The places, waiting list and next session after each change --------------------------------


def _row_of(therapist, group) -> DashboardGroupRow:
    [row] = [
        row
        for row in selectors.facilitated_groups(user=therapist, now=timezone.now())
        if row.slug == group.slug
    ]
    return row


def test_groups_i_lead_shows_places_and_waiting_right_after_join_leave_admit_remove(
    client, therapist
):
    group = make_group(therapist, capacity=2)
    first, second = make_member(group), make_member(group)
    waiting, behind = make_member(group), make_member(group)

    def seen() -> tuple[int, int]:
        row = _row_of(therapist, group)
        return row.active_count, row.waitlist_count

    assert seen() == (2, 2)
    enrollment_admit(actor=therapist, enrollment=waiting)
    assert seen() == (3, 1)
    enrollment_withdraw(actor=first.user, enrollment=first)
    assert seen() == (2, 1)
    enrollment_remove(actor=therapist, enrollment=second, reason="Broke the agreement")
    assert seen() == (2, 0)  # the next person waiting was given the place
    behind.refresh_from_db()
    assert behind.state == Enrollment.State.ACTIVE
    newcomer = UserFactory()
    accept_guidelines(newcomer)
    enrollment_create(actor=newcomer, group=group)
    assert seen() == (2, 1)
    client.force_login(therapist)
    page = client.get(reverse("groups:dashboard")).content.decode()
    assert "<td>2 of 2</td>\n            <td>1</td>" in page


def test_groups_i_lead_shows_the_next_session_right_after_schedule_cancel_move_and_end(
    therapist,
):
    group = make_group(therapist)
    assert _row_of(therapist, group).next_starts_at is None
    later = make_session(group, days_ahead=6)
    assert _row_of(therapist, group).next_starts_at == later.starts_at
    sooner = make_session(group, days_ahead=3)
    assert _row_of(therapist, group).next_starts_at == sooner.starts_at
    session_cancel(actor=therapist, session=sooner, reason="Unwell")
    assert _row_of(therapist, group).next_starts_at == later.starts_at
    [moved] = session_reschedule(
        actor=therapist,
        session=later,
        starts_local=to_local(later.starts_at, time_zone=group.time_zone) - timedelta(days=4),
        duration_minutes=60,
        reason="Earlier suits more people",
    )
    assert _row_of(therapist, group).next_starts_at == moved.starts_at
    after = make_session(group, days_ahead=9)
    under_way = _move(moved, starts_in=timedelta(minutes=-5))
    TherapyGroup.objects.filter(pk=group.pk).update(
        next_session_starts_at=under_way.starts_at, next_session_closes_at=under_way.ends_at
    )
    assert _row_of(therapist, group).next_starts_at == under_way.starts_at  # until it closes
    session_end(actor=therapist, session=under_way)
    assert _row_of(therapist, group).next_starts_at == after.starts_at


def test_my_schedule_page_reads_together_what_its_parts_read_alone(world, member):
    """selectors.my_schedule_page sends the four reads in one round trip (config.baked)."""
    now = timezone.now()
    for user in (world["person"], world["newcomer"], world["therapist"], member):
        sessions, lists = selectors.my_schedule_page(user=user, now=now)
        assert sessions == selectors.my_schedule(user=user, now=now)
        assert lists == selectors.my_lists(user=user, now=now)


def test_groups_i_lead_page_reads_together_what_its_parts_read_alone(world):
    now = timezone.now()
    for user in (world["therapist"], world["second"].facilitator, world["person"]):
        groups, sessions = selectors.dashboard_page(user=user, now=now)
        assert groups == selectors.facilitated_groups(user=user, now=now)
        assert sessions == selectors.facilitated_sessions(user=user, now=now)
