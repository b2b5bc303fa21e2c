"""Reads for moderation and safety."""

from __future__ import annotations

from itertools import groupby

from django.db.models import Case, Exists, OuterRef, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce

from accounts.models import User
from accounts.roles import Role
from chat.models import Message, Participant
from groups import rights
from groups.models import Enrollment, TherapyGroup, TherapyGroupUserObjectPermission
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


def is_staff(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.has_role(Role.STAFF))


def takes_part(*, user: User, group: TherapyGroup) -> bool:
    """Whether ``user`` facilitates ``group`` or holds a place in it: who may report there,
    and see its messages on the report page."""
    return rights.has_right(user=user, group=group, right=rights.FACILITATE) or (
        Enrollment.objects.filter(group=group, user=user, state=Enrollment.State.ACTIVE).exists()
    )


def facilitates(*, user_id: int, group_id: int) -> bool:
    return TherapyGroupUserObjectPermission.objects.filter(
        user_id=user_id, content_object_id=group_id, permission__codename=rights.FACILITATE
    ).exists()


def with_subject_names(reports: QuerySet[Report]) -> QuerySet[Report]:
    """Annotate ``subject_name``: the name the reported person uses in the group (their
    pseudonym), or in the session's room (facilitators); never their email."""
    in_group = Enrollment.objects.filter(
        group_id=OuterRef("group_id"), user_id=OuterRef("subject_id")
    ).values("pseudonym")[:1]
    in_room = Participant.objects.filter(
        session_id=OuterRef("session_id"), user_id=OuterRef("subject_id")
    ).values("name")[:1]
    return reports.annotate(subject_name=Coalesce(Subquery(in_group), Subquery(in_room)))


def reports_for_reviewer(*, user: User) -> QuerySet[Report]:
    """Open and escalated reports ``user`` may review, urgent ones ("someone may be in danger")
    first: staff all, facilitators their groups' open ones. Nobody sees reports about
    themselves; reports about a group's facilitators are for staff only (see
    ``moderation.services.can_review``)."""
    reports = Report.objects.exclude(status=Report.Status.CLOSED).exclude(subject=user)
    if not is_staff(user):
        about_a_facilitator = TherapyGroupUserObjectPermission.objects.filter(
            content_object_id=OuterRef("group_id"),
            user_id=OuterRef("subject_id"),
            permission__codename=rights.FACILITATE,
        )
        reports = reports.filter(
            status=Report.Status.OPEN,
            group_id__in=rights.groups_with_right(user=user, right=rights.FACILITATE),
        ).exclude(Exists(about_a_facilitator))
    reports = with_subject_names(reports.select_related("group"))
    danger_first = Case(When(reason=Report.Reason.DANGER, then=Value(0)), default=Value(1))
    # Someone may be in danger: first of all; then "escalated" (sorts before "open").
    return reports.order_by(danger_first, "status", "created_at")


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
