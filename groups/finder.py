"""Find a group that fits: a few optional answers give a short list, with the reasons in words.

The ranking is a sum of plain points, so that it can be explained on the page and tested on
cases (no model, nothing learned):

- the topic the person would like support with: 3
- a session in the next four weeks on a day and at a time they are free, in their zone: 2
- the kind of group they asked for (support or therapy): 1
- a free place now: 1

A language they chose is not a preference but a condition: a group in another language is
not suggested at all. Invitation-only groups are never suggested. Ties go to the group that
meets soonest. One query ranks, one more finds the sessions the reasons name.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from accounts.models import User
from groups.models import LANGUAGES, GroupSession, TherapyGroup
from groups.selectors import TIMES_OF_DAY, groups_visible_to

FINDER_HORIZON_DAYS = 28
SUGGESTIONS = 5
TOPIC_POINTS, TIME_POINTS, KIND_POINTS, PLACE_POINTS = 3, 2, 1, 1

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LANGUAGE_NAMES = dict(LANGUAGES)


@dataclass(frozen=True)
class FinderAnswers:
    """What the person told us; every part may be left empty."""

    topic: str = ""  # a Topic slug
    weekdays: frozenset[int] = frozenset()  # 1 = Monday … 7 = Sunday, in their zone
    times_of_day: frozenset[str] = frozenset()  # keys of TIMES_OF_DAY
    language: str = ""
    kind: str = ""  # TherapyGroup.Kind

    @property
    def has_times(self) -> bool:
        return bool(self.weekdays or self.times_of_day)

    def as_data(self) -> dict[str, object]:
        """A plain form of the answers, to keep when the person asks us to."""
        return {
            "topic": self.topic,
            "weekdays": sorted(self.weekdays),
            "times_of_day": sorted(self.times_of_day),
            "language": self.language,
            "kind": self.kind,
        }


@dataclass
class Suggestion:
    group: TherapyGroup
    score: int
    reasons: list[str] = field(default_factory=list)


def free_windows(
    *, now: datetime, viewer_zone: str, weekdays: Collection[int], times_of_day: Collection[str]
) -> list[tuple[datetime, datetime]]:
    """The UTC intervals of the next FINDER_HORIZON_DAYS days on the chosen days and at the
    chosen times of day (any day, any time where none is chosen), in the viewer's zone."""
    zone = ZoneInfo(viewer_zone)
    first_day = now.astimezone(zone).date()
    hours = [TIMES_OF_DAY[key] for key in sorted(times_of_day) if key in TIMES_OF_DAY] or [(0, 24)]
    windows = []
    for offset in range(FINDER_HORIZON_DAYS + 1):
        day = first_day + timedelta(days=offset)
        if weekdays and day.isoweekday() not in weekdays:
            continue
        for start_hour, end_hour in hours:
            start = datetime.combine(day, time(start_hour), tzinfo=zone)
            if end_hour > start_hour:
                end = datetime.combine(day, time(0), tzinfo=zone) + timedelta(hours=end_hour)
            else:  # the night runs past midnight
                end = datetime.combine(day + timedelta(days=1), time(end_hour), tzinfo=zone)
            windows.append((start.astimezone(UTC), end.astimezone(UTC)))
    return windows


def _in_windows(windows: list[tuple[datetime, datetime]]) -> Q:
    matches = Q(pk__in=[])
    for start, end in windows:
        matches |= Q(starts_at__gte=start, starts_at__lt=end)
    return matches


def groups_suggested(
    *, viewer: User, answers: FinderAnswers, viewer_zone: str, now: datetime | None = None
) -> list[Suggestion]:
    """Up to SUGGESTIONS groups ``viewer`` could join, best first, each with its reasons."""
    now = now or timezone.now()
    horizon = now + timedelta(days=FINDER_HORIZON_DAYS)
    groups = groups_visible_to(viewer).filter(
        is_listed=True,
        is_closed=False,
        archived_at__isnull=True,
        next_session_starts_at__isnull=False,
        next_session_starts_at__lt=horizon,
    )
    if answers.language:
        groups = groups.filter(language=answers.language)
    windows = (
        free_windows(
            now=now,
            viewer_zone=viewer_zone,
            weekdays=answers.weekdays,
            times_of_day=answers.times_of_day,
        )
        if answers.has_times
        else []
    )
    sessions = GroupSession.objects.upcoming(now).filter(group=OuterRef("pk"))
    points = [
        Case(When(topic__slug=answers.topic, then=Value(TOPIC_POINTS)), default=Value(0))
        if answers.topic
        else Value(0),
        Case(
            When(Exists(sessions.filter(_in_windows(windows))), then=Value(TIME_POINTS)),
            default=Value(0),
        )
        if windows
        else Value(0),
        Case(When(kind=answers.kind, then=Value(KIND_POINTS)), default=Value(0))
        if answers.kind
        else Value(0),
        Case(When(capacity__gt=F("seats_taken"), then=Value(PLACE_POINTS)), default=Value(0)),
    ]
    score = points[0] + points[1] + points[2] + points[3]
    ranked = list(
        groups.select_related("topic")
        .annotate(score=score, seats_left=F("capacity") - F("seats_taken"))
        .order_by("-score", "next_session_starts_at", "title", "pk")[:SUGGESTIONS]
    )
    fitting = _fitting_sessions(ranked, windows, now=now)
    return [
        Suggestion(
            group=group,
            score=group.score,
            reasons=_reasons(group, answers, fitting.get(group.pk), viewer_zone, now=now),
        )
        for group in ranked
    ]


def _fitting_sessions(
    groups: Sequence[TherapyGroup], windows: list[tuple[datetime, datetime]], *, now: datetime
) -> dict[int, GroupSession]:
    """For each group, its first session in the windows (or its next one, with no windows)."""
    if not groups:
        return {}
    sessions = GroupSession.objects.upcoming(now).filter(group_id__in=[g.pk for g in groups])
    if windows:
        sessions = sessions.filter(_in_windows(windows))
    return {
        session.group_id: session
        for session in sessions.order_by("group_id", "starts_at").distinct("group_id")
    }


def _reasons(
    group: TherapyGroup,
    answers: FinderAnswers,
    session: GroupSession | None,
    viewer_zone: str,
    *,
    now: datetime,
) -> list[str]:
    """Why this group is on the list, in plain words, the way the page shows them."""
    reasons = []
    if answers.topic and group.topic.slug == answers.topic:
        reasons.append(f"about {group.topic.name.lower()}")
    when = session.starts_at if session else group.next_session_starts_at
    if when is not None:
        local = when.astimezone(ZoneInfo(viewer_zone))
        day = _DAY_NAMES[local.weekday()]
        if session is not None and session.series_id is not None:
            reasons.append(f"meets {day}s {local:%H:%M} your time")
        else:
            reasons.append(f"next meets {day} {local.day} {local:%B}, {local:%H:%M} your time")
    reasons.append(_LANGUAGE_NAMES.get(group.language, group.language))
    if answers.kind and group.kind == answers.kind:
        reasons.append(f"a {group.get_kind_display().lower()}")
    left = group.capacity - group.seats_taken
    if left > 0:
        reasons.append(f"{left} place{'s' if left != 1 else ''}")
    else:
        reasons.append("full now: you can join the waiting list")
    return reasons
