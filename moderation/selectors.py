"""Reads for moderation and safety."""

from __future__ import annotations

from itertools import groupby

from django.db.models import QuerySet

from accounts.models import User
from chat.models import Message
from groups import rights
from moderation.models import CrisisLine, Report


def crisis_lines_by_country(*, country: str = "") -> list[tuple[str, list[CrisisLine]]]:
    """Active crisis lines grouped by country: the person's own country first, then lines
    that serve anywhere, then the rest in code order (one query)."""
    lines = list(
        CrisisLine.objects.filter(is_active=True).order_by("country", "sort_order", "name")
    )

    def rank(code: str) -> tuple[int, str]:
        if country and code == country:
            return (0, code)
        if code == CrisisLine.INTERNATIONAL:
            return (1, code)
        return (2, code)

    grouped = [(code, list(items)) for code, items in groupby(lines, key=lambda line: line.country)]
    return sorted(grouped, key=lambda pair: rank(pair[0]))


def reports_for_reviewer(*, user: User) -> QuerySet[Report]:
    """Open and escalated reports ``user`` may review: staff all, facilitators their groups'."""
    from moderation.services import is_staff

    reports = Report.objects.exclude(status=Report.Status.CLOSED).select_related("group")
    if not is_staff(user):
        reports = reports.filter(
            status=Report.Status.OPEN,
            group_id__in=rights.groups_with_right(user=user, right=rights.FACILITATE),
        )
    return reports.order_by("status", "created_at")  # "escalated" sorts before "open"


def report_context(*, report: Report, around: int = 3) -> list[Message]:
    """The reported message and a few around it (names are the room's pseudonyms)."""
    if report.message is None:
        return []
    position = report.message.position
    return list(
        Message.objects.filter(
            session_id=report.message.session_id,
            position__gte=position - around,
            position__lte=position + around,
        )
        .select_related("author")
        .order_by("position")
    )
