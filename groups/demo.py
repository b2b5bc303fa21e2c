"""Demo groups for `manage.py seed_demo` (after accounts' demo people). Safe to run again."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import Any, TextIO

from django.utils import timezone

from accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.selectors import guidelines_current
from accounts.services import guidelines_accept
from groups.models import MIN_SESSION, Enrollment, GroupSession, Invitation, TherapyGroup, Topic
from groups.scheduling import Recurrence, to_local
from groups.services import (
    enrollment_create,
    group_create,
    invitation_send,
    series_schedule,
    session_schedule,
)

# Invited to peer supervision once the demo therapist has joined it.
COLLEAGUE_EMAIL = "colleague@hearth.example"
DROP_IN_MINUTES = 60
OPEN_WITHIN = timedelta(minutes=60)  # the longest a room may open before its start
# The demo therapist's weekly rooms open this long before the start: longer than the quarter
# hour a drop-in needs, so whenever one of them leaves no room for the drop-in it is open itself.
WEEKLY_ROOM_OPENS_MINUTES = 20


def _person(key: str) -> User:
    return User.objects.get(email__iexact=DEMO_PEOPLE[key][0])


def _extra_member(n: int) -> User:
    email = f"member{n}@hearth.example"
    user = User.objects.filter(email=email).first()
    if user is None:
        from allauth.account.models import EmailAddress

        user = User.objects.create_user(
            email, DEMO_PASSWORD, display_name=f"Demo Member {n}", time_zone="America/New_York"
        )
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        current = guidelines_current()
        if current is not None:
            guidelines_accept(actor=user, version=current)
    return user


def _next_weekday(zone: str, weekday: int, hour: int) -> datetime:
    """The next wall-clock ``weekday`` (0 = Monday) at ``hour``:00 in ``zone``, from tomorrow."""
    today = to_local(timezone.now(), time_zone=zone).date() + timedelta(days=1)
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    return datetime.combine(day, time(hour))


def _group(slug: str, facilitator: User, **fields: Any) -> tuple[TherapyGroup, bool]:
    existing = TherapyGroup.objects.filter(slug=slug).first()
    if existing is not None:
        return existing, False
    group = group_create(actor=facilitator, **fields)
    if group.slug != slug:
        TherapyGroup.objects.filter(pk=group.pk).update(slug=slug)
        group.slug = slug
    return group, True


def _enroll(user: User, group: TherapyGroup) -> None:
    if not Enrollment.objects.filter(user=user, group=group).exists():
        enrollment_create(actor=user, group=group)


def seed(*, stdout: TextIO) -> None:
    therapist, supervisor = _person("therapist"), _person("supervisor")
    client, client2 = _person("client"), _person("client2")
    topic = {t.slug: t for t in Topic.objects.all()}

    anxiety, new = _group(
        "thursday-evening-anxiety-circle",
        therapist,
        title="Thursday evening anxiety circle",
        topic=topic["anxiety"],
        kind=TherapyGroup.Kind.SUPPORT,
        description="A gentle weekly group for people living with anxiety. Come as you are; "
        "you can listen for as long as you like before you write anything.",
        agreement="We start and end on time. We speak from our own experience.",
        capacity=8,
        time_zone="Europe/London",
    )
    if new:
        series_schedule(
            actor=therapist,
            group=anxiety,
            first_start_local=_next_weekday("Europe/London", 3, 18),
            duration_minutes=60,
            recurrence=Recurrence(count=8),
            room_opens_minutes=WEEKLY_ROOM_OPENS_MINUTES,
        )
    _enroll(client, anxiety)

    grief, new = _group(
        "living-with-grief",
        therapist,
        title="Living with grief",
        topic=topic["grief"],
        kind=TherapyGroup.Kind.THERAPY,
        description="A small therapy group for people who have lost someone close.",
        capacity=2,
        time_zone="America/New_York",
    )
    if new:
        series_schedule(
            actor=therapist,
            group=grief,
            first_start_local=_next_weekday("America/New_York", 1, 19),
            duration_minutes=90,
            recurrence=Recurrence(interval_weeks=1, count=6),
            room_opens_minutes=WEEKLY_ROOM_OPENS_MINUTES,
        )
    _enroll(client2, grief)
    _enroll(_extra_member(1), grief)
    _enroll(client, grief)  # the group is full: the demo client waits

    supervision, new = _group(
        "peer-supervision-for-facilitators",
        supervisor,
        title="Peer supervision for group facilitators",
        topic=topic["clinical-practice"],
        kind=TherapyGroup.Kind.PEER_SUPERVISION,
        description="A closed, confidential space for therapists who run groups.",
        capacity=6,
        time_zone="Europe/London",
    )
    if new:
        series_schedule(
            actor=supervisor,
            group=supervision,
            first_start_local=_next_weekday("Europe/London", 2, 12),
            duration_minutes=90,
            recurrence=Recurrence(interval_weeks=2, count=6),
        )
    _ensure_pending_invitation(group=supervision, facilitator=supervisor, invitee=therapist)

    drop_in, _ = _group(
        "drop-in-coping-with-stress",
        therapist,
        title="Drop-in: coping with stress",
        topic=topic["loneliness"],
        kind=TherapyGroup.Kind.SUPPORT,
        description="A short drop-in session to share what helps with everyday stress.",
        capacity=12,
        time_zone="Europe/London",
    )
    open_room = _ensure_open_room(drop_in)
    _enroll(client, drop_in)
    _enroll(client2, drop_in)
    if open_room is None:
        stdout.write("(No room is open this time: try again in a few minutes.)\n")
    elif open_room.group_id != drop_in.pk:
        stdout.write(
            f"(The drop-in's facilitator is busy now, so “{open_room.group.title}” is the group "
            "whose room is open.)\n"
        )
    stdout.write(
        "Demo groups: 4 (a weekly support group, a full therapy group with a waiting list, "
        "a closed peer-supervision group with a pending invitation, and a drop-in whose room "
        "is open now).\n"
    )


def _ensure_pending_invitation(*, group: TherapyGroup, facilitator: User, invitee: User) -> None:
    """Keep one invitation waiting for an answer, however long ago the demo was seeded.

    It goes to the demo therapist; once they have joined, to a colleague's address.
    """
    if Invitation.objects.filter(group=group).pending(timezone.now()).exists():
        return
    in_group = Enrollment.objects.filter(
        group=group,
        user=invitee,
        state__in=[Enrollment.State.ACTIVE, Enrollment.State.WAITLISTED, Enrollment.State.REMOVED],
    ).exists()
    email = COLLEAGUE_EMAIL if in_group else invitee.email
    invitation_send(actor=facilitator, group=group, email=email)


def _ceil_minute(instant: datetime) -> datetime:
    whole = instant.replace(second=0, microsecond=0)
    return whole if whole == instant else whole + timedelta(minutes=1)


def _free_slot(facilitator: User, now: datetime) -> tuple[datetime, int] | None:
    """The first start in the next hour from which ``facilitator`` is free for a quarter of an
    hour or more, and for how many minutes (up to ``DROP_IN_MINUTES``).

    Mirrors the scheduling services' rule: one facilitator's sessions that are not cancelled
    may not overlap.
    """
    start = _ceil_minute(now + timedelta(seconds=30))
    horizon = now + OPEN_WITHIN
    busy = GroupSession.objects.filter(
        facilitator=facilitator,
        cancelled_at__isnull=True,
        ends_at__gt=start,
        starts_at__lt=horizon + timedelta(minutes=DROP_IN_MINUTES),
    ).order_by("starts_at")
    for session in busy:
        if session.starts_at - start >= MIN_SESSION:
            free = int((session.starts_at - start).total_seconds() // 60)
            return start, min(DROP_IN_MINUTES, free)
        start = max(start, _ceil_minute(session.ends_at))
        if start > horizon:
            return None
    return start, DROP_IN_MINUTES


def _ensure_open_room(drop_in: TherapyGroup) -> GroupSession | None:
    """Make sure a demo room is open now: the drop-in's, or one its facilitator leads already.

    The drop-in gets a session in its facilitator's first free quarter hour within the next
    hour, its room opening at once. When their other sessions leave no such quarter hour, one
    of them is under way or starts within minutes, so its room is open: that is the open room.
    """
    now = timezone.now()
    led = GroupSession.objects.filter(
        facilitator_id=drop_in.facilitator_id,
        cancelled_at__isnull=True,
        starts_at__lte=now + OPEN_WITHIN,
        ends_at__gt=now,
    ).select_related("group")
    open_now = sorted(
        (session for session in led if session.room_is_open),
        key=lambda session: session.group_id != drop_in.pk,  # the drop-in's own first
    )
    if open_now and open_now[0].group_id == drop_in.pk:
        return open_now[0]
    slot = _free_slot(drop_in.facilitator, now)
    if slot is not None:
        start, minutes = slot
        try:
            return session_schedule(
                actor=drop_in.facilitator,
                group=drop_in,
                starts_local=to_local(start, time_zone=drop_in.time_zone),
                duration_minutes=minutes,
                # At least the minutes from now to the start, so the room is open already.
                room_opens_minutes=max(10, math.ceil((start - now).total_seconds() / 60)),
            )
        except ServiceError:  # e.g. the hour that repeats when the clocks go back
            pass
    return open_now[0] if open_now else None
