"""Places in groups: enrolling, the waiting list, leaving and removal."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import Notification, User
from accounts.notifications import notify
from accounts.pseudonyms import validate_chosen_name, validate_display_name
from accounts.roles import Role
from accounts.selectors import guidelines_accepted_current
from accounts.text import bounded, clean_text
from groups import rights
from groups.models import (
    REASON_MAX,
    Enrollment,
    Invitation,
    TherapyGroup,
)
from groups.services._common import LIVE_STATES, _require_active, _require_right
from groups.services.listing import store_seats_taken
from moderation.audit import AuditAction, audit_record

# --- Enrollment -----------------------------------------------------------------------------------


def _active_count(group: TherapyGroup) -> int:
    return group.enrollments.filter(state=Enrollment.State.ACTIVE).count()


def _clean_pseudonym(*, group: TherapyGroup, pseudonym: str, chooser: User) -> str:
    """The name ``chooser`` will have in ``group``: cleaned, checked by the rules for names
    (one that sounds official only for staff) and free in the group."""
    name = clean_text(pseudonym)
    try:
        validate_display_name(name)
        validate_chosen_name(name, chooser=chooser)
    except ValidationError as error:  # reuse its plain words
        raise ServiceError(" ".join(error.messages), code="pseudonym") from error
    taken = (
        Enrollment.objects.filter(group=group, state__in=LIVE_STATES, pseudonym__iexact=name)
        .exclude(user=chooser)
        .exists()
    )
    if taken:
        raise ServiceError(
            "Someone in this group already uses that name. Please choose another.",
            code="pseudonym_taken",
        )
    return name


def _group_has_ended(group: TherapyGroup, now: datetime) -> bool:
    last_end = group.sessions.filter(cancelled_at__isnull=True).aggregate(last=Max("ends_at"))[
        "last"
    ]
    return last_end is not None and last_end <= now


def _pending_invitation_for(*, user: User, group: TherapyGroup, now: datetime) -> Invitation | None:
    return (
        Invitation.objects.select_for_update()
        .filter(group=group)
        .addressed_to(user)
        .pending(now)
        .order_by("created_at")
        .first()
    )


def enrollment_create(*, actor: User, group: TherapyGroup, pseudonym: str = "") -> Enrollment:
    """Take a place in ``group``, or the next place on its waiting list when it is full.

    The seat count is decided with the group's row locked, so when many people ask for the last
    place at once exactly one gets it and the rest queue in the order they were served.
    """
    _require_active(actor)
    if not guidelines_accepted_current(user=actor):
        raise ServiceError(
            "Before joining a group, please read and accept the community guidelines.",
            code="guidelines_required",
        )
    now = timezone.now()
    with transaction.atomic():
        locked = TherapyGroup.objects.select_for_update().get(pk=group.pk)
        if locked.is_archived:
            raise ServiceError("This group has closed.", code="archived")
        if actor.pk == locked.facilitator_id or locked.co_facilitators.filter(pk=actor.pk).exists():
            raise ServiceError(
                "You facilitate this group, so you are already part of it.", code="facilitator"
            )
        if locked.kind == TherapyGroup.Kind.PEER_SUPERVISION and not (
            actor.has_role(Role.THERAPIST) or actor.has_role(Role.PEER_SUPERVISOR)
        ):
            raise ServiceError(
                "Peer supervision groups are for verified therapists only.", code="not_a_therapist"
            )
        if _group_has_ended(locked, now):
            raise ServiceError(
                "This group's last session is over, so it is not taking new members.",
                code="ended",
            )
        existing = Enrollment.objects.select_for_update().filter(group=locked, user=actor).first()
        if existing is not None and existing.state in LIVE_STATES:
            raise ServiceError(
                "You are already in this group."
                if existing.state == Enrollment.State.ACTIVE
                else "You are already on this group's waiting list.",
                code="already_enrolled",
            )
        if existing is not None and existing.state == Enrollment.State.REMOVED:
            raise ServiceError(
                "The facilitator has removed you from this group, so you cannot rejoin it.",
                code="removed",
            )
        invitation = None
        if locked.is_closed:
            invitation = _pending_invitation_for(user=actor, group=locked, now=now)
            if invitation is None:
                raise ServiceError(
                    "This group is by invitation only. If you think you should be in it, "
                    "please ask its facilitator.",
                    code="invitation_required",
                )
        name = _clean_pseudonym(
            group=locked, pseudonym=pseudonym or actor.display_name, chooser=actor
        )
        enrollment = existing or Enrollment(group=locked, user=actor)
        enrollment.pseudonym = name
        enrollment.ended_at = None
        if _active_count(locked) < locked.capacity:
            enrollment.state = Enrollment.State.ACTIVE
            enrollment.waitlist_position = None
            enrollment.activated_at = now
        else:
            enrollment.state = Enrollment.State.WAITLISTED
            last = locked.enrollments.filter(state=Enrollment.State.WAITLISTED).aggregate(
                last=Max("waitlist_position")
            )["last"]
            enrollment.waitlist_position = (last or 0) + 1
        enrollment.save()
        store_seats_taken(locked)
        audit_record(
            actor=actor,
            action=AuditAction.ENROLLMENT_CREATED,
            target=enrollment,
            group_id=locked.pk,
            details={"state": enrollment.state},
        )
        if invitation is not None:
            invitation.accepted_at = now
            invitation.invitee = actor
            invitation.save(update_fields=["accepted_at", "invitee"])
            audit_record(
                actor=actor,
                action=AuditAction.INVITATION_ACCEPTED,
                target=invitation,
                group_id=locked.pk,
            )
    return enrollment


def _fill_free_places(*, actor: User | None, group: TherapyGroup) -> list[Enrollment]:
    """Give free places to the waiting list, first come first served.

    Call with the group's row locked. Each person promoted is told after commit.
    """
    free = group.capacity - _active_count(group)
    if free <= 0:
        return []
    promoted = list(
        Enrollment.objects.select_for_update()
        .filter(group=group, state=Enrollment.State.WAITLISTED)
        .order_by("waitlist_position")[:free]
    )
    now = timezone.now()
    for enrollment in promoted:
        _promote(actor=actor, enrollment=enrollment, now=now, by_hand=False)
    return promoted


def _promote(*, actor: User | None, enrollment: Enrollment, now: datetime, by_hand: bool) -> None:
    enrollment.state = Enrollment.State.ACTIVE
    enrollment.waitlist_position = None
    enrollment.activated_at = now
    enrollment.save(update_fields=["state", "waitlist_position", "activated_at"])
    audit_record(
        actor=actor,
        action=AuditAction.ENROLLMENT_PROMOTED,
        target=enrollment,
        group_id=enrollment.group_id,
        details={"by_hand": by_hand},
    )
    notify(
        kind=Notification.Kind.WAITLIST_PROMOTED,
        recipient=enrollment.user,
        group_id=enrollment.group_id,
        object_id=enrollment.pk,
    )


def _end_enrollment(
    *,
    actor: User,
    enrollment: Enrollment,
    state: str,
    action: AuditAction,
    reason: str = "",
    report_id: int | None = None,
) -> Enrollment:
    with transaction.atomic():
        group = TherapyGroup.objects.select_for_update().get(pk=enrollment.group_id)
        locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        if locked.state not in LIVE_STATES:
            raise ServiceError("This place has already ended.", code="not_enrolled")
        if state == Enrollment.State.REMOVED and report_id is None:
            _require_right(actor, group, rights.VIEW_ROSTER)
        locked.state = state
        locked.waitlist_position = None
        locked.ended_at = timezone.now()
        locked.removed_reason = reason
        locked.save(update_fields=["state", "waitlist_position", "ended_at", "removed_reason"])
        audit_record(
            actor=actor,
            action=action,
            target=locked,
            group_id=group.pk,
            details=None if report_id is None else {"report": report_id},
        )
        if state == Enrollment.State.REMOVED:
            notify(
                kind=Notification.Kind.ENROLLMENT_REMOVED,
                recipient=locked.user,
                group_id=group.pk,
                object_id=locked.pk,
            )
        _fill_free_places(actor=actor, group=group)
        store_seats_taken(group)
    return locked


def enrollment_withdraw(*, actor: User, enrollment: Enrollment) -> Enrollment:
    """Leave a group or its waiting list; a freed place goes to the waiting list at once."""
    if enrollment.user_id != actor.pk:
        raise ServiceError("You can only leave groups you are in.", code="forbidden")
    return _end_enrollment(
        actor=actor,
        enrollment=enrollment,
        state=Enrollment.State.WITHDRAWN,
        action=AuditAction.ENROLLMENT_WITHDRAWN,
    )


def enrollment_remove(
    *, actor: User, enrollment: Enrollment, reason: str, report_id: int | None = None
) -> Enrollment:
    """A facilitator removes a member (or someone waiting), with a reason.

    ``report_id``: remove them as the decision on that moderation report. moderation has
    checked that ``actor`` may review the report (staff may, without rights on the group), so
    the roster right is not asked again; the audit row names the report.
    """
    _require_active(actor)
    reason = bounded(reason, limit=REASON_MAX, noun="Reasons")
    if not reason:
        raise ServiceError("Please note a short reason for removing them.", code="reason_required")
    if enrollment.user_id == actor.pk:
        raise ServiceError("You cannot remove yourself; leave the group instead.", code="self")
    return _end_enrollment(
        actor=actor,
        enrollment=enrollment,
        state=Enrollment.State.REMOVED,
        action=AuditAction.ENROLLMENT_REMOVED,
        reason=reason,
        report_id=report_id,
    )


def enrollment_admit(*, actor: User, enrollment: Enrollment) -> Enrollment:
    """A facilitator gives someone waiting a place by hand, even when the group is full."""
    _require_active(actor)
    with transaction.atomic():
        group = TherapyGroup.objects.select_for_update().get(pk=enrollment.group_id)
        _require_right(actor, group, rights.VIEW_ROSTER)
        locked = Enrollment.objects.select_for_update().get(pk=enrollment.pk)
        if locked.state != Enrollment.State.WAITLISTED:
            raise ServiceError("This person is not on the waiting list.", code="not_waitlisted")
        _promote(actor=actor, enrollment=locked, now=timezone.now(), by_hand=True)
        store_seats_taken(group)
    return locked
