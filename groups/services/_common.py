"""What every group service checks first: an active actor and, where needed, a right."""

from __future__ import annotations

from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.roles import Role
from groups import rights
from groups.models import (
    Enrollment,
    TherapyGroup,
)

# --- Who may do what ----------------------------------------------------------------------------


def _require_active(actor: User) -> None:
    if not actor.is_active:
        raise ServiceError("This account is not active.", code="inactive")
    if actor.is_suspended:
        until = timezone.localtime(actor.suspended_until)
        raise ServiceError(
            f"Your account is suspended until {until:%-d %B %Y, %H:%M}, so you cannot do this "
            "right now. If you think this is a mistake, please contact us.",
            code="suspended",
        )


def _require_right(actor: User, group: TherapyGroup, right: str) -> None:
    if not rights.has_right(user=actor, group=group, right=right):
        raise ServiceError("Only the group's facilitators can do this.", code="forbidden")


def _may_lead(actor: User, kind: str) -> bool:
    if kind == TherapyGroup.Kind.PEER_SUPERVISION:
        return actor.has_role(Role.PEER_SUPERVISOR)
    return actor.has_role(Role.THERAPIST)


def may_start_a_group(user: User) -> bool:
    """Whether ``user`` may lead a group of some kind, so that "Start a group" is worth its form."""
    return any(_may_lead(user, kind) for kind in TherapyGroup.Kind)


def _lead_refusal(kind: str) -> ServiceError:
    if kind == TherapyGroup.Kind.PEER_SUPERVISION:
        return ServiceError(
            "Peer supervision groups are led by peer supervisors.", code="not_a_supervisor"
        )
    return ServiceError(
        "Groups are led by verified therapists. You can apply to be verified from your account "
        "page.",
        code="not_a_therapist",
    )


LIVE_STATES = (Enrollment.State.ACTIVE, Enrollment.State.WAITLISTED)
