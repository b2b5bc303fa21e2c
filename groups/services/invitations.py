"""Invitations to closed groups."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import Notification, User
from accounts.notifications import notify
from accounts.roles import Role
from groups import rights
from groups.models import (
    Enrollment,
    Invitation,
    TherapyGroup,
)
from groups.services._common import LIVE_STATES, _require_active, _require_right
from groups.services.enrollment import enrollment_create
from moderation.audit import AuditAction, audit_record

# --- Invitations ----------------------------------------------------------------------------------


def invitation_send(*, actor: User, group: TherapyGroup, email: str) -> Invitation:
    """Invite someone, by email address, to a closed group. They are told after commit."""
    _require_active(actor)
    email = email.strip()
    with transaction.atomic():
        locked = TherapyGroup.objects.select_for_update().get(pk=group.pk)
        _require_right(actor, locked, rights.FACILITATE)
        if not locked.is_closed:
            raise ServiceError(
                "This group is open to everyone, so no invitation is needed.", code="not_closed"
            )
        if locked.is_archived:
            raise ServiceError("This group is archived.", code="archived")
        invitee = User.objects.filter(email__iexact=email, is_active=True).exclude(email="").first()
        if invitee is not None:
            if invitee.pk == actor.pk:
                raise ServiceError("You cannot invite yourself.", code="self")
            if (
                locked.kind == TherapyGroup.Kind.PEER_SUPERVISION
                and not invitee.has_role(Role.THERAPIST)
                and not invitee.has_role(Role.PEER_SUPERVISOR)
            ):
                raise ServiceError(
                    "Only verified therapists can be invited to peer supervision.",
                    code="not_a_therapist",
                )
            if Enrollment.objects.filter(
                group=locked, user=invitee, state__in=LIVE_STATES
            ).exists():
                raise ServiceError("This person is already in the group.", code="already_enrolled")
        now = timezone.now()
        addressed = Q(email__iexact=email) | (Q(invitee=invitee) if invitee else Q(pk__in=[]))
        if Invitation.objects.filter(addressed, group=locked).pending(now).exists():
            raise ServiceError(
                "An invitation to this address is already waiting for an answer.",
                code="already_invited",
            )
        invitation = Invitation.objects.create(
            group=locked, invitee=invitee, email=email, invited_by=actor
        )
        audit_record(
            actor=actor, action=AuditAction.INVITATION_SENT, target=invitation, group_id=locked.pk
        )
        notify(
            kind=Notification.Kind.INVITED,
            recipient=invitee,
            email="" if invitee else email,
            group_id=locked.pk,
            object_id=invitation.pk,
        )
    return invitation


def _check_addressed_to(actor: User, invitation: Invitation) -> None:
    if invitation.invitee_id is not None:
        ok = invitation.invitee_id == actor.pk
    else:
        ok = bool(actor.email) and actor.email.casefold() == invitation.email.casefold()
    if not ok:
        raise ServiceError("This invitation is for someone else.", code="not_yours")


def invitation_accept(*, actor: User, invitation: Invitation, pseudonym: str = "") -> Enrollment:
    """Accept an invitation: enroll in the group (or its waiting list)."""
    _check_addressed_to(actor, invitation)
    if not invitation.is_pending_at(timezone.now()):
        raise ServiceError(
            "This invitation is no longer open. Please ask the facilitator for a new one.",
            code="not_pending",
        )
    return enrollment_create(actor=actor, group=invitation.group, pseudonym=pseudonym)


def invitation_decline(*, actor: User, invitation: Invitation) -> Invitation:
    _check_addressed_to(actor, invitation)
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if not locked.is_pending_at(timezone.now()):
            raise ServiceError("This invitation is no longer open.", code="not_pending")
        locked.declined_at = timezone.now()
        locked.invitee = actor
        locked.save(update_fields=["declined_at", "invitee"])
        audit_record(
            actor=actor,
            action=AuditAction.INVITATION_DECLINED,
            target=locked,
            group_id=locked.group_id,
        )
    return locked


def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
        _require_right(actor, locked.group, rights.FACILITATE)
        if not locked.is_pending_at(timezone.now()):
            raise ServiceError("This invitation is no longer open.", code="not_pending")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action=AuditAction.INVITATION_REVOKED,
            target=locked,
            group_id=locked.group_id,
        )
    return locked
