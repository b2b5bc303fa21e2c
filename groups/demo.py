"""Demo groups for `manage.py seed_demo` (after accounts' demo people). Safe to run again."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TextIO

from django.utils import timezone

from accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.selectors import guidelines_current
from accounts.services import guidelines_accept
from groups.models import Enrollment, TherapyGroup, Topic
from groups.scheduling import Recurrence, to_local
from groups.services import (
    enrollment_create,
    group_create,
    invitation_send,
    series_schedule,
    session_schedule,
)


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
        guidelines_accept(actor=user, version=guidelines_current())
    return user


def _next_weekday(zone: str, weekday: int, hour: int) -> datetime:
    """The next wall-clock ``weekday`` (0 = Monday) at ``hour``:00 in ``zone``, from tomorrow."""
    today = to_local(timezone.now(), time_zone=zone).date() + timedelta(days=1)
    day = today + timedelta(days=(weekday - today.weekday()) % 7)
    return datetime.combine(day, time(hour))


def _group(slug: str, facilitator: User, **fields: object) -> tuple[TherapyGroup, bool]:
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
        invitation_send(actor=supervisor, group=supervision, email=therapist.email)

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
    _enroll(client, drop_in)
    _enroll(client2, drop_in)
    if not any(session.room_is_open for session in drop_in.sessions.all()):
        soon = to_local(timezone.now() + timedelta(minutes=5), time_zone=drop_in.time_zone)
        try:
            session_schedule(
                actor=therapist,
                group=drop_in,
                starts_local=soon.replace(second=0, microsecond=0),
                duration_minutes=60,
            )
        except ServiceError as error:
            stdout.write(f"(No open room this time: {error.message})\n")
    stdout.write(
        "Demo groups: 4 (a weekly support group, a full therapy group with a waiting list, "
        "a closed peer-supervision group with a pending invitation, and a drop-in whose room "
        "is open now).\n"
    )
