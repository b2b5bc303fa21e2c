"""Reads for groups. Each page's read is a fixed number of queries, whatever the data size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import (
    Case,
    Count,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from config.baked import Baked, Read, objects_of, rows_of, together
from config.fragments import Row
from groups import rights
from groups.checkout import checkouts_open
from groups.models import (
    CheckOut,
    Enrollment,
    GroupSession,
    Invitation,
    SessionNote,
    TherapyGroup,
)

LIVE_STATES = (Enrollment.State.ACTIVE, Enrollment.State.WAITLISTED)


def _member_group_ids(user: User) -> QuerySet[Any, Any]:
    return Enrollment.objects.filter(user=user, state__in=LIVE_STATES).values("group_id")


def _invited_group_ids(user: User, now: datetime) -> QuerySet[Any, Any]:
    return Invitation.objects.addressed_to(user).pending(now).values("group_id")


def leads_groups(user: User) -> bool:
    """Whether ``user`` is a therapist or peer supervisor: they also see listed peer
    supervision groups."""
    return user.has_role(Role.THERAPIST) or user.has_role(Role.PEER_SUPERVISOR)


def visible_to(person: User, now: datetime, *, leads: bool) -> Q:
    """The rule of ``groups_visible_to`` for a logged-in ``person`` (only their id and email
    are read, so a baked query can build it from its values) who ``leads`` groups or not."""
    listed = Q(is_listed=True, archived_at__isnull=True)
    if not leads:
        listed &= ~Q(kind=TherapyGroup.Kind.PEER_SUPERVISION)
    own = Q(archived_at__isnull=True) & (
        Q(pk__in=_member_group_ids(person)) | Q(pk__in=_invited_group_ids(person, now))
    )
    facilitated = Q(pk__in=rights.groups_with_right(user=person, right=rights.FACILITATE))
    return listed | own | facilitated


def groups_visible_to(user: User) -> QuerySet[TherapyGroup]:
    """The groups ``user`` may see at all; any other group answers 404.

    Listed groups (peer supervision only for therapists), groups they belong to or are invited
    to, and groups on which they hold an explicit right (facilitators; staff given the right).
    Archived groups only to those holding a right. Each "their own" part is an IN subquery that
    starts from the person's own rows, so the cost does not grow with the number of groups.
    """
    groups = TherapyGroup.objects.all()
    if not user.is_authenticated:
        return groups.filter(
            Q(is_listed=True, archived_at__isnull=True)
            & ~Q(kind=TherapyGroup.Kind.PEER_SUPERVISION)
        )
    return groups.filter(visible_to(user, timezone.now(), leads=leads_groups(user)))


def _enrollment_count(state: Enrollment.State) -> Coalesce:
    """The number of the group's (``OuterRef("pk")``) enrollments in ``state``."""
    counted = (
        Enrollment.objects.filter(group=OuterRef("pk"), state=state)
        .order_by()
        .values("group")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _with_seats(groups: QuerySet[TherapyGroup]) -> QuerySet[TherapyGroup]:
    return groups.annotate(
        active_count=_enrollment_count(Enrollment.State.ACTIVE),
        waitlist_count=_enrollment_count(Enrollment.State.WAITLISTED),
    ).annotate(seats_left=F("capacity") - F("active_count"))


def _waitlist_place() -> Subquery:
    ahead_or_here = (
        Enrollment.objects.filter(
            group=OuterRef("group"),
            state=Enrollment.State.WAITLISTED,
            waitlist_position__lte=OuterRef("waitlist_position"),
        )
        .order_by()
        .values("group")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Subquery(ahead_or_here, output_field=IntegerField())


def with_waitlist_place(enrollments: QuerySet[Enrollment]) -> QuerySet[Enrollment]:
    """Annotate ``waitlist_place``: 1 for the first person waiting, 2 for the next…, counted
    from the order now, in the same query (None for someone not waiting).

    ``waitlist_position`` is only the order people joined in (gaps stay when someone ahead
    leaves or is given a place); the place shown is always worked out from it when read, so
    no change to the list has to renumber everyone behind.
    """
    return enrollments.annotate(waitlist_place=_waitlist_place())


def waitlist_place(*, enrollment: Enrollment) -> int | None:
    """Where ``enrollment`` is on its waiting list now (1 is next), or None if not waiting."""
    place: int | None = (
        Enrollment.objects.filter(pk=enrollment.pk)
        .annotate(place=_waitlist_place())
        .values_list("place", flat=True)
        .first()
    )
    return place


def _upcoming(now: datetime) -> QuerySet[GroupSession]:
    return GroupSession.objects.upcoming(now)


def _with_next_session(groups: QuerySet[TherapyGroup], now: datetime) -> QuerySet[TherapyGroup]:
    next_start = (
        _upcoming(now).filter(group=OuterRef("pk")).order_by("starts_at").values("starts_at")[:1]
    )
    return groups.annotate(next_starts_at=Subquery(next_start))


TIMES_OF_DAY = {
    "morning": (5, 12),
    "afternoon": (12, 17),
    "evening": (17, 22),
    "night": (22, 5),
}


DIRECTORY_HORIZON_DAYS = 60


def local_windows(
    *, now: datetime, viewer_zone: str, weekday: int | None, time_of_day: str
) -> list[tuple[datetime, datetime]]:
    """The UTC intervals of the next DIRECTORY_HORIZON_DAYS days that fall on ``weekday``
    (1 = Monday) and in ``time_of_day``, both in the viewer's zone.

    Filtering sessions by these ranges lets the database use its index on ``starts_at``,
    instead of converting every session's start to the viewer's zone.
    """
    zone = ZoneInfo(viewer_zone)
    first_day = now.astimezone(zone).date()
    start_hour, end_hour = TIMES_OF_DAY.get(time_of_day, (0, 24))
    windows = []
    for offset in range(DIRECTORY_HORIZON_DAYS + 1):
        day = first_day + timedelta(days=offset)
        if weekday is not None and day.isoweekday() != weekday:
            continue
        start = datetime.combine(day, time(start_hour), tzinfo=zone)
        if end_hour > start_hour:
            end = datetime.combine(day, time(0), tzinfo=zone) + timedelta(hours=end_hour)
        else:  # the night runs past midnight
            end = datetime.combine(day + timedelta(days=1), time(end_hour), tzinfo=zone)
        windows.append((start.astimezone(UTC), end.astimezone(UTC)))
    return windows


@dataclass(frozen=True)
class DirectoryFilters:
    query: str = ""
    topic: str = ""
    kind: str = ""
    language: str = ""
    weekday: int | None = None  # 1 = Monday … 7 = Sunday, in the viewer's zone
    time_of_day: str = ""
    seats_only: bool = False


def _directory_groups(
    *, viewer: User, filters: DirectoryFilters, viewer_zone: str, now: datetime
) -> QuerySet[TherapyGroup]:
    groups = groups_visible_to(viewer).filter(is_listed=True, archived_at__isnull=True)
    if filters.query:
        groups = groups.filter(
            Q(title__icontains=filters.query) | Q(description__icontains=filters.query)
        )
    if filters.topic:
        groups = groups.filter(topic__slug=filters.topic)
    if filters.kind:
        groups = groups.filter(kind=filters.kind)
    if filters.language:
        groups = groups.filter(language=filters.language)
    if filters.weekday is not None or filters.time_of_day:
        windows = local_windows(
            now=now,
            viewer_zone=viewer_zone,
            weekday=filters.weekday,
            time_of_day=filters.time_of_day,
        )
        in_a_window = Q(pk__in=[])
        for start, end in windows:
            in_a_window |= Q(starts_at__gte=start, starts_at__lt=end)
        sessions = _upcoming(now).filter(in_a_window).values("group_id")
        groups = groups.filter(pk__in=sessions)
    if filters.seats_only:
        groups = groups.filter(capacity__gt=F("seats_taken"))
    return groups


class DirectoryResults:
    """The directory's groups in order, read a page at a time (give it to a Paginator).

    The order is the next session first (none last), then the title, then the id. A page is
    one query that walks the ``group_directory_order`` index and stops after the page, with
    the next session and the places taken read off the group row. A row whose stored next
    session has closed since (the sweep has not moved it on yet) is stale: the count notes
    whether any matching row is, and if so the page works their next sessions out instead, so
    the order and the times shown are those of the sessions as they are now.
    """

    ORDER = (F("next_starts_at").asc(nulls_last=True), F("title").asc(), F("pk").asc())
    # What a card shows (templates/groups/directory.html), and nothing else.
    SHOWN = (
        "title",
        "slug",
        "kind",
        "language",
        "is_closed",
        "description",
        "capacity",
        "seats_taken",
        "next_session_starts_at",
        "topic__name",
    )

    def __init__(self, groups: QuerySet[TherapyGroup], now: datetime) -> None:
        self._groups = groups
        self._now = now
        self._any_stale: bool | None = None  # unknown until counted

    def _stale(self) -> Q:
        return Q(next_session_closes_at__lte=self._now)

    def count(self) -> int:
        counted = self._groups.aggregate(total=Count("pk"), stale=Count("pk", filter=self._stale()))
        self._any_stale = counted["stale"] > 0
        return counted["total"]

    def __getitem__(self, page: slice) -> list[TherapyGroup]:
        if not isinstance(page, slice) or page.step is not None or page.stop is None:
            raise TypeError("DirectoryResults reads slices [start:stop] only")
        start, stop = page.start or 0, page.stop
        groups = (
            self._groups.select_related("topic")
            .only(*self.SHOWN)
            .annotate(seats_left=F("capacity") - F("seats_taken"))
        )
        if self._any_stale is False:
            stored = groups.annotate(next_starts_at=F("next_session_starts_at"))
            return list(stored.order_by(*self.ORDER)[start:stop])
        fresh = (
            groups.exclude(self._stale())
            .annotate(next_starts_at=F("next_session_starts_at"))
            .order_by(*self.ORDER)[:stop]
        )
        stale = _with_next_session(groups.filter(self._stale()), self._now).order_by()
        return list(fresh.union(stale, all=True).order_by(*self.ORDER)[start:stop])


def _own_peer_supervision(user_id: int, email: str, now: datetime) -> QuerySet[Any, Any]:
    """A listed peer supervision group that is not archived and that the person is in, is
    invited to or facilitates (the "their own" part of ``groups_visible_to``), if any."""
    person = User(pk=user_id, email=email)
    own = (
        Q(pk__in=_member_group_ids(person))
        | Q(pk__in=_invited_group_ids(person, now))
        | Q(pk__in=rights.groups_with_right(user=person, right=rights.FACILITATE))
    )
    return (
        TherapyGroup.objects.filter(
            kind=TherapyGroup.Kind.PEER_SUPERVISION, is_listed=True, archived_at__isnull=True
        )
        .filter(own)
        .order_by()
        .values_list("pk")[:1]
    )


# Asked on every directory page a client opens: the ORM took ~1.7 ms to build it each time.
_OWN_PEER_SUPERVISION = Baked(_own_peer_supervision, user_id=int, email=str, now=datetime)


def directory_audience(*, viewer: User) -> str | None:
    """Who else sees exactly the directory ``viewer`` sees (the same groups for the same
    filters), as a name to share its list under; None if nobody is known to.

    The directory lists listed groups that are not archived among ``groups_visible_to``: for
    everyone, those that are not peer supervision; for therapists and peer supervisors all of
    them; anyone else sees a listed peer supervision group only as its member, invitee or
    facilitator (one query to make sure they are in none).
    """
    if not viewer.is_authenticated:
        return "everyone"
    if leads_groups(viewer):
        return "leaders"
    own = _OWN_PEER_SUPERVISION.rows(user_id=viewer.pk, email=viewer.email, now=timezone.now())
    return None if own else "everyone"


def directory(*, viewer: User, filters: DirectoryFilters, viewer_zone: str) -> DirectoryResults:
    """Listed groups matching the filters, with places left and the next session, in the
    order of their next sessions (two queries for a page: its count and its rows)."""
    now = timezone.now()
    groups = _directory_groups(viewer=viewer, filters=filters, viewer_zone=viewer_zone, now=now)
    return DirectoryResults(groups, now)


@dataclass
class GroupPage:
    """What one person's group page needs beside the group's details (``group_details``)."""

    group: TherapyGroup  # the row alone, with ``seats_left`` from the places stored on it
    enrollment: Enrollment | None
    invitation: Invitation | None
    rights: frozenset[str]

    @property
    def takes_part(self) -> bool:
        """The rule of ``session_for_participant``: may this person have the session files?"""
        return (
            (self.enrollment is not None and self.enrollment.state == Enrollment.State.ACTIVE)
            or rights.FACILITATE in self.rights
            or (
                self.invitation is not None
                and self.group.is_closed
                and self.group.archived_at is None
            )
        )


def _visible_group(leads: bool) -> Baked:
    def build(user_id: int, email: str, now: datetime, slug: str) -> QuerySet[TherapyGroup]:
        person = User(pk=user_id, email=email)
        return (
            TherapyGroup.objects.filter(visible_to(person, now, leads=leads), slug=slug)
            .annotate(seats_left=F("capacity") - F("seats_taken"))
            .order_by("pk")[:1]
        )

    return Baked(build, user_id=int, email=str, now=datetime, slug=str)


# The viewer's own enrollment, invitation and rights are read by the group's slug, beside the
# group itself, all four in one round trip; they are used only if the group is one the viewer
# may see.
def _my_enrollment(slug: str, user_id: int) -> QuerySet[Enrollment]:
    enrollment = Enrollment.objects.filter(group__slug=slug, user_id=user_id)
    return with_waitlist_place(enrollment).order_by("pk")[:1]


def _my_invitation(slug: str, user_id: int, email: str, now: datetime) -> QuerySet[Invitation]:
    addressee = User(pk=user_id, email=email)
    return (
        Invitation.objects.filter(group__slug=slug)
        .addressed_to(addressee)
        .pending(now)
        .order_by("pk")[:1]
    )


# The group page's reads for a logged-in person, built once (config.baked): the ORM took
# about 5 ms to build them on every request, ten times what the database took to answer.
_VISIBLE_GROUP = {leads: _visible_group(leads) for leads in (False, True)}
_MY_ENROLLMENT = Baked(_my_enrollment, slug=str, user_id=int)
_MY_INVITATION = Baked(_my_invitation, slug=str, user_id=int, email=str, now=datetime)


def group_page(*, viewer: User, slug: str) -> GroupPage | None:
    """The group as ``viewer`` stands in it, or None if they may not see it."""
    if not viewer.is_authenticated:
        group = (
            groups_visible_to(viewer)
            .filter(slug=slug)
            .annotate(seats_left=F("capacity") - F("seats_taken"))
            .first()
        )
        if group is None:
            return None
        return GroupPage(group=group, enrollment=None, invitation=None, rights=frozenset())
    now = timezone.now()
    person = {"user_id": viewer.pk, "email": viewer.email}
    reads = [
        objects_of(_VISIBLE_GROUP[leads_groups(viewer)], **person, now=now, slug=slug),
        objects_of(_MY_ENROLLMENT, slug=slug, user_id=viewer.pk),
        objects_of(_MY_INVITATION, slug=slug, **person, now=now),
    ]
    held = rights.rights_read(user=viewer, slug=slug)
    found, enrollment, invitation, *held_rows = together(*reads, *([held] if held else []))
    if not found:
        return None
    return GroupPage(
        group=found[0],
        enrollment=enrollment[0] if enrollment else None,
        invitation=invitation[0] if invitation else None,
        rights=rights.rights_from(held_rows[0] if held_rows else None),
    )


@dataclass
class GroupDetails:
    """What the group page shows the same to everyone: the group with its places, topic and
    facilitators, and its next sessions."""

    group: TherapyGroup
    sessions: list[GroupSession]


def group_details(*, group_id: int) -> GroupDetails:
    """The group's details (check first that the viewer may see it: ``group_page``)."""
    now = timezone.now()
    group = (
        _with_seats(TherapyGroup.objects.filter(pk=group_id))
        .select_related("topic", "facilitator")
        .prefetch_related("co_facilitators")
        .get()
    )
    sessions = list(_upcoming(now).filter(group=group).order_by("starts_at")[:8])
    return GroupDetails(group=group, sessions=sessions)


def _my_group_ids(user: User) -> QuerySet[Any, Any]:
    """Ids of the groups ``user`` is an active member of or facilitates.

    A UNION rather than OR'd IN clauses: the planner then walks the (group, starts_at) index per
    group instead of scanning every session in the period (measured 35 ms -> 0.5 ms).
    """
    member_of = (
        Enrollment.objects.filter(user=user, state=Enrollment.State.ACTIVE)
        .order_by()
        .values_list("group_id", flat=True)
    )
    facilitates = (
        rights.groups_with_right(user=user, right=rights.FACILITATE)
        .order_by()
        .values_list("content_object_id", flat=True)
    )
    return member_of.union(facilitates)


def pseudonym_for_next_session(*, user: User) -> str | None:
    """The name ``user`` goes by in the group (joined or waited for) whose next session comes
    first, or None if they are in no group. One query."""
    return (
        Enrollment.objects.filter(user=user, state__in=LIVE_STATES)
        .order_by(F("group__next_session_starts_at").asc(nulls_last=True), "-created_at")
        .values_list("pseudonym", flat=True)
        .first()
    )


@dataclass(frozen=True)
class GroupLink(Row):
    title: str
    slug: str


@dataclass(frozen=True)
class SessionRow(Row):
    """What a list of sessions prints of one (My schedule, the dashboard), as plain values."""

    pk: int
    group: GroupLink
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str
    rescheduled_at: datetime | None
    reschedule_reason: str
    status: GroupSession.Status
    room_is_open: bool


@dataclass(frozen=True)
class DashboardGroupRow(Row):
    """What "Groups I lead" prints of one group, as plain values."""

    title: str
    slug: str
    active_count: int
    capacity: int
    waitlist_count: int
    next_starts_at: datetime | None
    archived_at: datetime | None
    is_closed: bool
    is_listed: bool


# --- My schedule and "Groups I lead" -----------------------------------------------------------
# Everyone who takes part opens one of these two pages on every visit. Their reads are baked
# (``config.baked``): the ORM builds each once per process from the rules' own functions
# (``not_over``, ``addressed_to``/``pending``, ``with_waitlist_place``,
# ``rights.groups_with_right``, ``checkout.checkouts_open``), where building them on every
# request cost about 1 ms each, most of these pages' time. They give plain values straight
# into the rows the templates print; tests/groups/test_page_reads.py holds them equal to the
# ORM's answers.

MY_SCHEDULE_DAYS = 28
MY_SCHEDULE_LIMIT = 40
FACILITATED_SESSIONS_DAYS = 7
FACILITATED_SESSIONS_LIMIT = 30

# What a session row reads of a session and its group, in this order.
_SESSION_ROW_VALUES = (
    "pk",
    "group__title",
    "group__slug",
    "starts_at",
    "ends_at",
    "room_opens_minutes",
    "closed_at",
    "cancelled_at",
    "cancel_reason",
    "rescheduled_at",
    "reschedule_reason",
)


@dataclass(frozen=True, slots=True)
class _SessionTimes:
    """The facts a session's status comes from, judged by the model's own rules."""

    starts_at: datetime
    ends_at: datetime
    room_opens_minutes: int
    closed_at: datetime | None
    cancelled_at: datetime | None

    Status = GroupSession.Status
    room_opens_at = GroupSession.room_opens_at
    closes_at = GroupSession.closes_at
    status_at = GroupSession.status_at


def _session_rows(found: list[tuple[Any, ...]], now: datetime) -> list[SessionRow]:
    """Session rows of ``_SESSION_ROW_VALUES`` tuples, with their status at ``now``."""
    rows = []
    for pk, title, slug, starts, ends, opens, closed, cancelled, why, moved, moved_why in found:
        times = _SessionTimes(starts, ends, opens, closed, cancelled)
        status = times.status_at(now)  # type: ignore[misc]  # the model's rule, borrowed
        rows.append(
            SessionRow(
                pk=pk,
                group=GroupLink(title=title, slug=slug),
                starts_at=starts,
                ends_at=ends,
                cancelled_at=cancelled,
                cancel_reason=why,
                rescheduled_at=moved,
                reschedule_reason=moved_why,
                status=status,
                room_is_open=status in (GroupSession.Status.OPEN, GroupSession.Status.LIVE),
            )
        )
    return rows


def _coming_sessions(group_ids: QuerySet[Any, Any], now: datetime, until: datetime) -> QuerySet:
    """The sessions not over of the groups ``group_ids`` selects, starting before ``until``,
    first first."""
    return (
        GroupSession.objects.not_over(now)
        .filter(group_id__in=group_ids, starts_at__lt=until)
        .order_by("starts_at")
        .values_list(*_SESSION_ROW_VALUES)
    )


def _my_sessions(user_id: int, now: datetime, until: datetime) -> QuerySet[Any, Any]:
    mine = _my_group_ids(User(pk=user_id))
    return _coming_sessions(mine, now, until)[:MY_SCHEDULE_LIMIT]


def _facilitated_sessions(user_id: int, now: datetime, until: datetime) -> QuerySet[Any, Any]:
    facilitates = rights.groups_with_right(user=User(pk=user_id), right=rights.FACILITATE)
    return _coming_sessions(facilitates, now, until)[:FACILITATED_SESSIONS_LIMIT]


_MY_SESSIONS = Baked(_my_sessions, user_id=int, now=datetime, until=datetime)
_FACILITATED_SESSIONS = Baked(_facilitated_sessions, user_id=int, now=datetime, until=datetime)


def my_schedule(*, user: User, now: datetime) -> list[SessionRow]:
    """The next four weeks' sessions (at most MY_SCHEDULE_LIMIT) in groups ``user`` is an
    active member of or facilitates, as rows. Everything further ahead is in the calendar
    feed."""
    until = now + timedelta(days=MY_SCHEDULE_DAYS)
    return _session_rows(_MY_SESSIONS.rows(user_id=user.pk, now=now, until=until), now)


def facilitated_sessions(*, user: User, now: datetime) -> list[SessionRow]:
    """The next week's sessions of the groups ``user`` facilitates (at most
    FACILITATED_SESSIONS_LIMIT)."""
    until = now + timedelta(days=FACILITATED_SESSIONS_DAYS)
    return _session_rows(_FACILITATED_SESSIONS.rows(user_id=user.pk, now=now, until=until), now)


@dataclass(frozen=True)
class WaitingPlace(Row):
    group: GroupLink
    place: int  # 1 is next (``with_waitlist_place``)


@dataclass(frozen=True)
class InvitationLink(Row):
    group: GroupLink
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class CheckOutDue(Row):
    pk: int  # the session's
    group: GroupLink
    starts_at: datetime
    my_feeling: int | None  # their answer on the scale, if they gave one


@dataclass
class MyLists:
    """What My schedule lists beside the sessions, each in its order."""

    waiting: list[WaitingPlace]  # the waiting lists they are on, oldest first
    invitations: list[InvitationLink]  # pending, to groups not archived, oldest first
    checkouts: list[CheckOutDue]  # sessions of their groups whose check-out is open, newest first


def _my_waiting(user_id: int) -> QuerySet[Any, Any]:
    waiting = Enrollment.objects.filter(user_id=user_id, state=Enrollment.State.WAITLISTED)
    return (
        with_waitlist_place(waiting)  # type: ignore[misc]
        .order_by("created_at", "pk")
        .values_list("group__title", "group__slug", "waitlist_place")
    )


def _my_invitations(user_id: int, email: str, now: datetime) -> QuerySet[Any, Any]:
    return (
        Invitation.objects.addressed_to(User(pk=user_id, email=email))
        .pending(now)
        .filter(group__archived_at__isnull=True)
        .order_by("created_at", "pk")
        .values_list("group__title", "group__slug", "token", "expires_at")
    )


def _my_checkouts(user_id: int, now: datetime) -> QuerySet[Any, Any]:
    # Their answer, if they gave one (one per person and session).
    feeling = (
        CheckOut.objects.filter(session=OuterRef("pk"), user_id=user_id)
        .order_by()
        .values("feeling")
    )
    sessions = GroupSession.objects.filter(
        group_id__in=Enrollment.objects.filter(
            user_id=user_id, state=Enrollment.State.ACTIVE
        ).values("group_id")
    )
    return (
        checkouts_open(sessions, now)
        .annotate(my_feeling=Subquery(feeling[:1]))
        .order_by("-starts_at", "-pk")
        .values_list("pk", "group__title", "group__slug", "starts_at", "my_feeling")
    )


_MY_WAITING = Baked(_my_waiting, user_id=int)
# ``addressed_to`` matches the email address only if the person has one.
_MY_INVITATIONS = {
    True: Baked(_my_invitations, user_id=int, email=str, now=datetime),
    False: Baked(lambda user_id, now: _my_invitations(user_id, "", now), user_id=int, now=datetime),
}
_MY_CHECKOUTS = Baked(_my_checkouts, user_id=int, now=datetime)


def _my_list_reads(user: User, now: datetime) -> list[Read]:
    if user.email:
        invited = rows_of(_MY_INVITATIONS[True], user_id=user.pk, email=user.email, now=now)
    else:
        invited = rows_of(_MY_INVITATIONS[False], user_id=user.pk, now=now)
    return [
        rows_of(_MY_WAITING, user_id=user.pk),
        invited,
        rows_of(_MY_CHECKOUTS, user_id=user.pk, now=now),
    ]


def _my_lists_of(waiting: list[Any], invited: list[Any], checkouts: list[Any]) -> MyLists:
    return MyLists(
        waiting=[
            WaitingPlace(group=GroupLink(title=title, slug=slug), place=place)
            for title, slug, place in waiting
        ],
        invitations=[
            InvitationLink(group=GroupLink(title=title, slug=slug), token=token, expires_at=at)
            for title, slug, token, at in invited
        ],
        checkouts=[
            CheckOutDue(pk=pk, group=GroupLink(title=title, slug=slug), starts_at=at, my_feeling=n)
            for pk, title, slug, at, n in checkouts
        ],
    )


def my_lists(*, user: User, now: datetime) -> MyLists:
    """``user``'s waiting lists, invitations and open check-outs (``groups.checkout``): three
    queries, whether or not there is anything, in one round trip."""
    return _my_lists_of(*together(*_my_list_reads(user, now)))


def my_schedule_page(*, user: User, now: datetime) -> tuple[list[SessionRow], MyLists]:
    """What My schedule shows: ``my_schedule`` and ``my_lists``, four queries in one round
    trip."""
    until = now + timedelta(days=MY_SCHEDULE_DAYS)
    sessions, *lists = together(
        rows_of(_MY_SESSIONS, user_id=user.pk, now=now, until=until),
        *_my_list_reads(user, now),
    )
    return _session_rows(sessions, now), _my_lists_of(*lists)


def calendar_sessions(*, user: User) -> QuerySet[GroupSession]:
    """Sessions for the calendar feed: recent and future, cancelled ones included, of the
    groups ``user`` is an active member of or facilitates (never the waiting list's)."""
    now = timezone.now()
    return (
        GroupSession.objects.filter(
            group_id__in=_my_group_ids(user), starts_at__gt=now - timedelta(days=30)
        )
        .select_related("group")
        .order_by("starts_at")
    )


def groups_facilitated_by(user: User) -> QuerySet[TherapyGroup]:
    """Groups on which ``user`` holds the facilitate right (none for the anonymous)."""
    if not user.is_authenticated:
        return TherapyGroup.objects.none()
    return TherapyGroup.objects.filter(
        pk__in=rights.groups_with_right(user=user, right=rights.FACILITATE)
    )


def login_landing(*, user: User) -> str:
    """Where ``user`` lands after logging in: "Groups I lead" for a therapist or anyone leading
    a group that is not archived, "My schedule" for everyone else."""
    leads = user.has_role(Role.THERAPIST) or (
        groups_facilitated_by(user).filter(archived_at__isnull=True).exists()
    )
    return reverse("groups:dashboard" if leads else "groups:my_schedule")


def _facilitated_groups(user_id: int, now: datetime) -> QuerySet[Any, Any]:
    next_start = (
        _upcoming(now).filter(group=OuterRef("pk")).order_by("starts_at").values("starts_at")[:1]
    )
    facilitates = rights.groups_with_right(user=User(pk=user_id), right=rights.FACILITATE)
    return (
        TherapyGroup.objects.filter(pk__in=facilitates)
        .annotate(
            waiting=_enrollment_count(Enrollment.State.WAITLISTED),
            # The stored next session, unless it has closed: then the first still to come.
            next_starts=Case(
                When(next_session_closes_at__lte=now, then=Subquery(next_start)),
                default=F("next_session_starts_at"),
            ),
        )
        .order_by(F("archived_at").asc(nulls_first=True), "title")
        .values_list(
            "title",
            "slug",
            "seats_taken",
            "capacity",
            "waiting",
            "next_starts",
            "archived_at",
            "is_closed",
            "is_listed",
        )
    )


_FACILITATED_GROUPS = Baked(_facilitated_groups, user_id=int, now=datetime)


def _dashboard_group_rows(found: list[tuple[Any, ...]]) -> list[DashboardGroupRow]:
    return [
        DashboardGroupRow(
            title=title,
            slug=slug,
            active_count=taken,
            capacity=capacity,
            waitlist_count=waiting,
            next_starts_at=next_starts,
            archived_at=archived,
            is_closed=is_closed,
            is_listed=is_listed,
        )
        for title, slug, taken, capacity, waiting, next_starts, archived, is_closed, is_listed in (
            found
        )
    ]


def facilitated_groups(*, user: User, now: datetime) -> list[DashboardGroupRow]:
    """The groups ``user`` facilitates for "Groups I lead", archived last, by title: one query.

    The places taken and the next session are read off the group row, where the services
    keep them (``groups.services.listing``); a row whose stored next session has closed (the
    sweep has not moved it on yet) has it worked out from the sessions instead, as the
    directory does. Only the waiting list is counted, per group.
    """
    return _dashboard_group_rows(_FACILITATED_GROUPS.rows(user_id=user.pk, now=now))


def dashboard_page(
    *, user: User, now: datetime
) -> tuple[list[DashboardGroupRow], list[SessionRow]]:
    """What "Groups I lead" shows: ``facilitated_groups`` and ``facilitated_sessions``, two
    queries in one round trip."""
    until = now + timedelta(days=FACILITATED_SESSIONS_DAYS)
    groups, sessions = together(
        rows_of(_FACILITATED_GROUPS, user_id=user.pk, now=now),
        rows_of(_FACILITATED_SESSIONS, user_id=user.pk, now=now, until=until),
    )
    return _dashboard_group_rows(groups), _session_rows(sessions, now)


@dataclass(frozen=True)
class ManageSessionRow(Row):
    """What the manage page prints of one session, as plain values."""

    pk: int
    group_slug: str
    starts_at: datetime
    ends_at: datetime
    status: GroupSession.Status
    cancelled: bool
    cancel_reason: str
    in_series: bool


@dataclass(frozen=True)
class MemberRow(Row):
    """One member on the manage page (``muted_until`` only while it lasts)."""

    pk: int
    group_slug: str
    pseudonym: str
    joined_at: datetime
    muted_until: datetime | None


@dataclass(frozen=True)
class WaitingRow(Row):
    """One person on the waiting list, with their place in it (1 is next)."""

    pk: int
    group_slug: str
    pseudonym: str
    place: int
    waiting_since: datetime


@dataclass(frozen=True)
class InvitationRow(Row):
    """A pending invitation: to a person on Hearth (their name) or to an address."""

    pk: int
    group_slug: str
    invitee_name: str | None
    email: str
    expires_at: datetime


@dataclass(frozen=True)
class Facilitator:
    pk: int
    display_name: str


@dataclass
class ManagePage:
    """The manage page's reads: the group row (with ``active_count``, ``waitlist_count`` and
    ``seats_left``), its topic and facilitators, and the rows of its lists."""

    group: TherapyGroup
    topic_name: str
    facilitator_name: str
    co_facilitators: list[Facilitator]
    members: list[MemberRow]
    waiting: list[WaitingRow]
    invitations: list[InvitationRow]
    sessions: list[ManageSessionRow]


MANAGE_SESSIONS_SINCE_DAYS = 7
MANAGE_SESSIONS_LIMIT = 40


# What ``GroupSession.status_at`` reads, in the model's order (as ``from_db`` takes them).
_STATUS_FIELDS = [
    field.attname
    for field in GroupSession._meta.concrete_fields
    if field.attname in {"starts_at", "ends_at", "room_opens_minutes", "closed_at", "cancelled_at"}
]


def _managed(user_id: int, slug: str) -> QuerySet[TherapyGroup]:
    """The group ``slug`` if ``user_id`` holds the roster right on it: each of the manage
    page's reads asks it itself, so that all four go to the database at once."""
    holder = User(pk=user_id)
    return TherapyGroup.objects.filter(
        pk__in=rights.groups_with_right(user=holder, right=rights.VIEW_ROSTER), slug=slug
    )


def _manage_group(user_id: int, slug: str) -> QuerySet[TherapyGroup]:
    co = User.objects.filter(co_facilitated_groups=OuterRef("pk")).order_by("pk")
    return (
        _managed(user_id, slug)
        # Only the names of the topic and the facilitator (not their rows), and the
        # co-facilitators in the same query, as two arrays in the same order.
        .annotate(
            topic_name=F("topic__name"),
            facilitator_name=F("facilitator__display_name"),
            co_facilitator_ids=ArraySubquery(co.values("pk")),
            co_facilitator_names=ArraySubquery(co.values("display_name")),
        )
        .order_by("pk")[:1]
    )


def _manage_enrollments(user_id: int, slug: str) -> QuerySet[Any, Any]:
    return (
        Enrollment.objects.filter(group__in=_managed(user_id, slug), state__in=LIVE_STATES)
        .order_by("waitlist_position", "pseudonym")
        .values_list("pk", "state", "pseudonym", "created_at", "activated_at", "muted_until")
    )


def _manage_invitations(user_id: int, slug: str, now: datetime) -> QuerySet[Any, Any]:
    return (
        Invitation.objects.filter(group__in=_managed(user_id, slug))
        .pending(now)
        .order_by("-created_at")
        .values_list("pk", "invitee_id", "invitee__display_name", "email", "expires_at")
    )


def _manage_sessions(user_id: int, slug: str, since: datetime) -> QuerySet[Any, Any]:
    return (
        GroupSession.objects.filter(group__in=_managed(user_id, slug), ends_at__gt=since)
        .order_by("starts_at")
        .values_list("pk", *_STATUS_FIELDS, "cancel_reason", "series_id")[:MANAGE_SESSIONS_LIMIT]
    )


# The manage page's reads, built once per process (config.baked): the ORM took about 8 ms to
# build them on every request, the database a fraction of a millisecond to answer.
_MANAGE_GROUP = Baked(_manage_group, user_id=int, slug=str)
_MANAGE_ENROLLMENTS = Baked(_manage_enrollments, user_id=int, slug=str)
_MANAGE_INVITATIONS = Baked(_manage_invitations, user_id=int, slug=str, now=datetime)
_MANAGE_SESSIONS = Baked(_manage_sessions, user_id=int, slug=str, since=datetime)


def manage_page(*, viewer: User, slug: str) -> ManagePage | None:
    """The facilitator's view of one group, or None unless ``viewer`` holds the roster right.

    Four baked queries (config.baked) in one round trip, each asking the right itself: the
    group with its topic, facilitator and co-facilitators, the roster and the waiting list,
    the pending invitations and the sessions from the past week on (at most
    MANAGE_SESSIONS_LIMIT). The places are counted from the
    roster itself (the same count as the enrollments), and a place in line from the order of
    the waiting list (as ``with_waitlist_place`` counts it);
    ``tests/groups/test_manage_page.py`` compares them with the counting subqueries.
    """
    if not viewer.is_authenticated:
        return None
    now = timezone.now()
    since = now - timedelta(days=MANAGE_SESSIONS_SINCE_DAYS)
    found, enrollments, invitations, sessions = together(
        objects_of(_MANAGE_GROUP, user_id=viewer.pk, slug=slug),
        rows_of(_MANAGE_ENROLLMENTS, user_id=viewer.pk, slug=slug),
        rows_of(_MANAGE_INVITATIONS, user_id=viewer.pk, slug=slug, now=now),
        rows_of(_MANAGE_SESSIONS, user_id=viewer.pk, slug=slug, since=since),
    )
    if not found:
        return None
    group: TherapyGroup = found[0]
    members: list[MemberRow] = []
    waiting: list[WaitingRow] = []
    for pk, state, pseudonym, created, activated, muted in enrollments:
        if state == Enrollment.State.WAITLISTED:
            waiting.append(
                WaitingRow(
                    pk=pk,
                    group_slug=group.slug,
                    pseudonym=pseudonym,
                    place=len(waiting) + 1,
                    waiting_since=created,
                )
            )
            continue
        members.append(
            MemberRow(
                pk=pk,
                group_slug=group.slug,
                pseudonym=pseudonym,
                joined_at=activated or created,
                muted_until=muted if muted is not None and muted > now else None,
            )
        )
    group.active_count = len(members)  # type: ignore[attr-defined]
    group.waitlist_count = len(waiting)  # type: ignore[attr-defined]
    group.seats_left = group.capacity - len(members)  # type: ignore[attr-defined]
    session_rows = []
    for pk, *status_values, reason, series in sessions:
        session = _SessionTimes(**dict(zip(_STATUS_FIELDS, status_values, strict=True)))
        session_rows.append(
            ManageSessionRow(
                pk=pk,
                group_slug=group.slug,
                starts_at=session.starts_at,
                ends_at=session.ends_at,
                status=session.status_at(now),  # type: ignore[misc]  # the model's rule, borrowed
                cancelled=session.cancelled_at is not None,
                cancel_reason=reason,
                in_series=series is not None,
            )
        )
    return ManagePage(
        group=group,
        topic_name=group.topic_name,  # type: ignore[attr-defined]
        facilitator_name=group.facilitator_name,  # type: ignore[attr-defined]
        co_facilitators=[
            Facilitator(pk=pk, display_name=name)
            for pk, name in zip(
                group.co_facilitator_ids,  # type: ignore[attr-defined]
                group.co_facilitator_names,  # type: ignore[attr-defined]
                strict=True,
            )
        ],
        members=members,
        waiting=waiting,
        invitations=[
            InvitationRow(
                pk=pk,
                group_slug=group.slug,
                invitee_name=name if invitee_id is not None else None,
                email=email,
                expires_at=expires_at,
            )
            for pk, invitee_id, name, email, expires_at in invitations
        ],
        sessions=session_rows,
    )


def session_for_viewer(*, viewer: User, session_id: int) -> GroupSession | None:
    """One session, if its group is visible to ``viewer``."""
    return (
        GroupSession.objects.filter(pk=session_id, group__in=groups_visible_to(viewer))
        .select_related("group")
        .first()
    )


def session_for_participant(*, viewer: User, session_id: int) -> GroupSession | None:
    """One session, if ``viewer`` takes part in its group; None for everyone else.

    Taking part: an active member, a holder of the facilitate right, or someone with a pending
    invitation to an invitation-only group (so they can put the time in their calendar while
    they decide). Not the waiting list: they are not in the sessions, and their feed does not
    carry them either. ``GroupPage.takes_part`` is the same rule for a page already loaded.
    """
    if not viewer.is_authenticated or not viewer.is_active:
        return None
    invited = (
        Invitation.objects.addressed_to(viewer)
        .pending(timezone.now())
        .filter(group__is_closed=True, group__archived_at__isnull=True)
        .values("group_id")
    )
    return (
        GroupSession.objects.filter(pk=session_id)
        .filter(Q(group_id__in=_my_group_ids(viewer)) | Q(group_id__in=invited))
        .select_related("group")
        .first()
    )


__all__ = [
    "CheckOutDue",
    "DashboardGroupRow",
    "DirectoryFilters",
    "DirectoryResults",
    "GroupDetails",
    "GroupLink",
    "GroupPage",
    "InvitationLink",
    "InvitationRow",
    "ManagePage",
    "ManageSessionRow",
    "MemberRow",
    "MyLists",
    "SessionRow",
    "WaitingPlace",
    "WaitingRow",
    "calendar_sessions",
    "directory",
    "directory_audience",
    "facilitated_groups",
    "facilitated_sessions",
    "group_details",
    "group_page",
    "groups_facilitated_by",
    "groups_visible_to",
    "manage_page",
    "my_lists",
    "my_schedule",
    "session_for_participant",
    "session_for_viewer",
]


# --- Facilitators' notes ----------------------------------------------------------------------
# Read them through ``groups.services.notes_open``, which checks the right and records the read.


def session_notes(*, session: GroupSession, subject: User | None = None) -> list[SessionNote]:
    """A session's notes, the session's own first, then each member's by their name in the
    group (with ``subject``, only that member's), oldest first; with ``subject_name``."""
    name_in_group = Enrollment.objects.filter(
        group_id=session.group_id, user_id=OuterRef("subject_id")
    ).values("pseudonym")[:1]
    notes = (
        SessionNote.objects.filter(session=session)
        .select_related("author")
        .annotate(subject_name=Subquery(name_in_group))
    )
    if subject is not None:
        notes = notes.filter(subject=subject)
    return list(notes.order_by(F("subject_name").asc(nulls_first=True), "created_at", "pk"))


def note_for_author(*, viewer: User, note_id: int) -> SessionNote | None:
    """A note ``viewer`` wrote, on a group they still facilitate; None otherwise."""
    return (
        SessionNote.objects.filter(
            pk=note_id,
            author=viewer,
            session__group_id__in=rights.groups_with_right(user=viewer, right=rights.FACILITATE),
        )
        .select_related("session__group")
        .first()
    )


def session_for_facilitator(*, viewer: User, session_id: int) -> GroupSession | None:
    """One session, if ``viewer`` holds the facilitate right on its group; None otherwise."""
    if not viewer.is_authenticated:
        return None
    return (
        GroupSession.objects.filter(
            pk=session_id,
            group_id__in=rights.groups_with_right(user=viewer, right=rights.FACILITATE),
        )
        .select_related("group")
        .first()
    )


def session_members(*, session: GroupSession) -> list[Enrollment]:
    """The members a facilitator may write a note on for ``session``: everyone who holds or
    held a place in its group (not the waiting list), by name in the group."""
    return list(
        Enrollment.objects.filter(group_id=session.group_id)
        .exclude(state=Enrollment.State.WAITLISTED)
        .select_related("user")
        .order_by("pseudonym")
    )
