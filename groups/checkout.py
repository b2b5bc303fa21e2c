"""Reads for check-out: a member's own answers, and a group's answers for its facilitators.

Facilitators read through ``groups.services.checkouts_open``, which records the reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce, Least

from accounts.models import User
from groups.models import (
    CHECKOUT_WINDOW,
    LONGEST_RUN,
    CheckOut,
    Enrollment,
    GroupSession,
    TherapyGroup,
)

# The facilitators' page shows this many of the group's latest ended sessions.
CHECKOUT_SESSIONS_SHOWN = 20


def checkout_open_at(session: GroupSession, now: datetime) -> bool:
    """Whether the session's check-out takes answers now: from its close, for a day.

    The same rule as ``checkouts_open`` (a session in hand is judged without a query);
    tests/groups/test_page_reads.py holds the two equal.
    """
    return (
        session.cancelled_at is None
        and session.closes_at <= now < session.closes_at + CHECKOUT_WINDOW
    )


def checkouts_open(sessions: QuerySet[GroupSession], now: datetime) -> QuerySet[GroupSession]:
    """The sessions among ``sessions`` whose check-out takes answers at ``now``
    (``checkout_open_at``), in one query; ``now`` is its only value, so it can be baked."""
    closes_at = Least("ends_at", Coalesce("closed_at", "ends_at"))  # GroupSession.closes_at
    window = Value(CHECKOUT_WINDOW, DurationField())
    # Closed less than the window ago, so started less than the window and the longest run
    # ago: the bound lets the (group, starts_at) index skip the past.
    earliest_start = ExpressionWrapper(
        Value(now, DateTimeField()) - Value(CHECKOUT_WINDOW + LONGEST_RUN, DurationField()),
        output_field=DateTimeField(),
    )
    return (
        sessions.filter(cancelled_at__isnull=True, starts_at__gt=earliest_start)
        .alias(checkout_closes_at=closes_at, checkout_until=closes_at + window)
        .filter(checkout_closes_at__lte=now, checkout_until__gt=now)
    )


def is_active_member(*, user: User, group_id: int) -> bool:
    """Whether ``user`` holds a place in the group now: who may answer its check-outs."""
    return Enrollment.objects.filter(
        group_id=group_id, user=user, state=Enrollment.State.ACTIVE
    ).exists()


def checkout_of(*, user: User, session: GroupSession) -> CheckOut | None:
    """``user``'s own answer for ``session``, if they gave one."""
    return CheckOut.objects.filter(session=session, user=user).first()


@dataclass
class SessionCheckOuts:
    """One ended session's check-out, as its facilitators see it."""

    session: GroupSession
    answers: list[tuple[str, CheckOut]] = field(default_factory=list)  # (name in group, answer)

    @property
    def average(self) -> float | None:
        if not self.answers:
            return None
        return round(sum(a.feeling for _, a in self.answers) / len(self.answers), 1)


def group_checkouts(*, group: TherapyGroup, now: datetime) -> list[SessionCheckOuts]:
    """The group's latest ended sessions, newest first, each with its answers by name in the
    group: three queries whatever the number of sessions and answers."""
    sessions = list(
        GroupSession.objects.filter(group=group, cancelled_at__isnull=True, starts_at__lt=now)
        .filter(Q(closed_at__lte=now) | Q(ends_at__lte=now))
        .order_by("-starts_at")[:CHECKOUT_SESSIONS_SHOWN]
    )
    names = dict(Enrollment.objects.filter(group=group).values_list("user_id", "pseudonym"))
    by_session = {session.pk: SessionCheckOuts(session=session) for session in sessions}
    for answer in CheckOut.objects.filter(session__in=sessions).order_by("created_at", "id"):
        by_session[answer.session_id].answers.append((names.get(answer.user_id, ""), answer))
    for entry in by_session.values():
        entry.answers.sort(key=lambda pair: pair[0].casefold())
    return list(by_session.values())
