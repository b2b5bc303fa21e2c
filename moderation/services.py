"""Writes for moderation: reports, the actions taken on them, and sanctions.

Every action needs a short reason, tells the person affected in plain words (by a neutral email),
tells the reporter their report was handled (never the details), and writes one audit event in
its transaction. Facilitators act on their own groups' reports; staff on all of them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import Notification, User
from accounts.notifications import notify
from accounts.roles import Role
from chat.broadcast import broadcast_on_commit, facilitators_group
from chat.models import Message
from chat.services import message_hide
from groups import rights
from groups.models import (
    Enrollment,
    GroupSession,
    TherapyGroup,
    TherapyGroupUserObjectPermission,
)
from groups.services import enrollment_remove
from moderation.audit import AuditAction, audit_record
from moderation.models import Report, Sanction

# A permanent suspension is a date no one will reach.
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


def is_staff(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.has_role(Role.STAFF))


def can_review(user: User, report: Report) -> bool:
    """Facilitators review their own groups' open reports; staff review everything."""
    if is_staff(user):
        return True
    if report.status == Report.Status.ESCALATED:
        return False
    return rights.has_right(user=user, group=report.group, right=rights.FACILITATE)


def _staff() -> list[User]:
    return list(User.objects.filter(is_active=True, groups__name=Role.STAFF.value).distinct())


def _facilitators(group: TherapyGroup) -> list[User]:
    holders = TherapyGroupUserObjectPermission.objects.filter(
        content_object=group, permission__codename=rights.FACILITATE
    ).values("user_id")
    return list(User.objects.filter(is_active=True, pk__in=holders))


# --- Filing --------------------------------------------------------------------------------------


def report_file(
    *,
    actor: User,
    group: TherapyGroup,
    reason: str,
    note: str = "",
    message: Message | None = None,
    subject: User | None = None,
    session: GroupSession | None = None,
) -> Report:
    """File a report about a message or a member of ``group``, or about the group itself.

    Anyone taking part in the group may report. "Someone may be in danger" alerts the group's
    facilitators and staff at once.
    """
    if reason not in Report.Reason.values:
        raise ServiceError("Please choose a reason from the list.", code="reason")
    takes_part = rights.has_right(user=actor, group=group, right=rights.FACILITATE) or (
        Enrollment.objects.filter(group=group, user=actor, state=Enrollment.State.ACTIVE).exists()
    )
    if not takes_part:
        raise ServiceError(
            "Only people taking part in this group can report here.", code="forbidden"
        )
    if message is not None:
        if message.session.group_id != group.pk:
            raise ServiceError("That message is not in this group.", code="not_in_group")
        session = message.session
        subject = message.author.user if message.author else None
    if subject is not None and subject.pk == actor.pk:
        raise ServiceError("You cannot report yourself.", code="self")
    with transaction.atomic():
        report = Report.objects.create(
            reporter=actor,
            group=group,
            session=session,
            message=message,
            subject=subject,
            reason=reason,
            note=note.strip()[:2000],
        )
        audit_record(
            actor=actor,
            action=AuditAction.REPORT_FILED,
            target=report,
            group_id=group.pk,
            session_id=session.pk if session else None,
            details={"reason": reason},
        )
        reviewers = _facilitators(group)
        if reason == Report.Reason.DANGER:
            reviewers += [person for person in _staff() if person not in reviewers]
            if session is not None:  # facilitators in the room hear at once, not only by email
                broadcast_on_commit(
                    facilitators_group(session.pk),
                    {
                        "type": "report.alert",
                        "position": message.position if message else None,
                    },
                )
        for person in reviewers:
            if person.pk != actor.pk:
                notify(
                    kind=Notification.Kind.REPORT_NEEDS_REVIEW,
                    recipient=person,
                    group_id=group.pk,
                    object_id=report.pk,
                )
    return report


# --- Reviewing -----------------------------------------------------------------------------------


def report_open(*, actor: User, report: Report) -> Report:
    """Open a report to review it; opening is itself recorded."""
    if not can_review(actor, report):
        raise ServiceError("You cannot review this report.", code="forbidden")
    audit_record(
        actor=actor,
        action=AuditAction.REPORT_OPENED,
        target=report,
        group_id=report.group_id,
        session_id=report.session_id,
    )
    return report


def _decide(
    *, actor: User, report: Report, reason: str, outcome: str, action: AuditAction
) -> Report:
    """Close ``report`` with ``outcome``; call inside a transaction."""
    reason = reason.strip()
    if not reason:
        raise ServiceError("Please note a short reason.", code="reason_required")
    locked = Report.objects.select_for_update().get(pk=report.pk)
    if not can_review(actor, locked):
        raise ServiceError("You cannot review this report.", code="forbidden")
    if locked.status == Report.Status.CLOSED:
        raise ServiceError("This report has already been handled.", code="closed")
    locked.status = Report.Status.CLOSED
    locked.outcome = outcome
    locked.decision_reason = reason[:300]
    locked.closed_at = timezone.now()
    locked.closed_by = actor
    locked.save(update_fields=["status", "outcome", "decision_reason", "closed_at", "closed_by"])
    audit_record(
        actor=actor,
        action=action,
        target=locked,
        group_id=locked.group_id,
        session_id=locked.session_id,
        details={"outcome": outcome},
    )
    notify(kind=Notification.Kind.REPORT_HANDLED, recipient=locked.reporter, object_id=locked.pk)
    return locked


def _tell_subject(report: Report, *, code: str, until: datetime | None = None) -> None:
    if report.subject_id:
        notify(
            kind=Notification.Kind.MODERATION_NOTICE,
            recipient=report.subject,
            group_id=report.group_id,
            object_id=report.pk,
            code=code,
            until=until,
        )


def report_dismiss(*, actor: User, report: Report, reason: str) -> Report:
    with transaction.atomic():
        return _decide(
            actor=actor,
            report=report,
            reason=reason,
            outcome=Report.Outcome.DISMISSED,
            action=AuditAction.REPORT_DISMISSED,
        )


def report_hide_message(*, actor: User, report: Report, reason: str) -> Report:
    """Hide the reported message for everyone ("removed by the facilitator")."""
    if report.message_id is None:
        raise ServiceError("This report is not about a message.", code="no_message")
    with transaction.atomic():
        decided = _decide(
            actor=actor,
            report=report,
            reason=reason,
            outcome=Report.Outcome.MESSAGE_HIDDEN,
            action=AuditAction.REPORT_RESOLVED,
        )
        message = Message.objects.get(pk=report.message_id)
        message_hide(actor=actor, session_id=message.session_id, position=message.position)
    return decided


def report_warn(*, actor: User, report: Report, reason: str) -> Report:
    """Warn the member: they are told a facilitator has concerns, in plain words."""
    if report.subject_id is None:
        raise ServiceError("This report is not about a member.", code="no_subject")
    with transaction.atomic():
        decided = _decide(
            actor=actor,
            report=report,
            reason=reason,
            outcome=Report.Outcome.WARNED,
            action=AuditAction.REPORT_RESOLVED,
        )
        audit_record(
            actor=actor,
            action=AuditAction.MEMBER_WARNED,
            target=report.subject,
            group_id=report.group_id,
        )
        _tell_subject(decided, code="warned")
    return decided


def report_mute(*, actor: User, report: Report, reason: str, until: datetime) -> Report:
    """Mute the member in this group's rooms until ``until`` (they can still read)."""
    if report.subject_id is None:
        raise ServiceError("This report is not about a member.", code="no_subject")
    now = timezone.now()
    if until <= now:
        raise ServiceError("Please choose a time in the future.", code="in_the_past")
    with transaction.atomic():
        decided = _decide(
            actor=actor,
            report=report,
            reason=reason,
            outcome=Report.Outcome.MUTED,
            action=AuditAction.REPORT_RESOLVED,
        )
        assert report.subject is not None  # checked above
        _apply_group_mute(
            actor=actor,
            subject=report.subject,
            group=report.group,
            until=until,
            reason=reason,
            report=decided,
        )
        _tell_subject(decided, code="muted", until=until)
    return decided


def report_remove(*, actor: User, report: Report, reason: str) -> Report:
    """Remove the member from the group (through the groups service, which frees the place)."""
    with transaction.atomic():
        decided = _decide(
            actor=actor,
            report=report,
            reason=reason,
            outcome=Report.Outcome.REMOVED,
            action=AuditAction.REPORT_RESOLVED,
        )
        enrollment = (
            Enrollment.objects.filter(
                group_id=report.group_id,
                user_id=report.subject_id,
                state__in=["active", "waitlisted"],
            ).first()
            if report.subject_id is not None
            else None
        )
        if enrollment is None:
            raise ServiceError("This person is not in the group any more.", code="not_enrolled")
        enrollment_remove(actor=actor, enrollment=enrollment, reason=reason)
    return decided


def report_escalate(*, actor: User, report: Report, reason: str) -> Report:
    """Hand the report to staff; they are told at once."""
    if not reason.strip():
        raise ServiceError("Please note a short reason.", code="reason_required")
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        if not can_review(actor, locked) or locked.status != Report.Status.OPEN:
            raise ServiceError("This report cannot be escalated now.", code="forbidden")
        locked.status = Report.Status.ESCALATED
        locked.escalated_at = timezone.now()
        locked.decision_reason = reason.strip()[:300]
        locked.save(update_fields=["status", "escalated_at", "decision_reason"])
        audit_record(
            actor=actor,
            action=AuditAction.REPORT_ESCALATED,
            target=locked,
            group_id=locked.group_id,
            session_id=locked.session_id,
        )
        for person in _staff():
            notify(
                kind=Notification.Kind.REPORT_NEEDS_REVIEW, recipient=person, object_id=locked.pk
            )
    return locked


def report_suspend(*, actor: User, report: Report, reason: str, until: datetime | None) -> Report:
    """Staff only: suspend the reported person's account, for a time or for good."""
    if not is_staff(actor):
        raise ServiceError("Only staff can suspend accounts.", code="forbidden")
    if report.subject_id is None:
        raise ServiceError("This report is not about a member.", code="no_subject")
    with transaction.atomic():
        decided = _decide(
            actor=actor,
            report=report,
            reason=reason,
            outcome=Report.Outcome.SUSPENDED,
            action=AuditAction.REPORT_RESOLVED,
        )
        assert report.subject is not None  # checked above
        account_suspend(
            actor=actor, user=report.subject, reason=reason, until=until, report=decided
        )
    return decided


# --- Sanctions -----------------------------------------------------------------------------------


def _apply_group_mute(
    *,
    actor: User,
    subject: User,
    group: TherapyGroup,
    until: datetime,
    reason: str,
    report: Report | None,
) -> Sanction:
    sanction = Sanction.objects.create(
        subject=subject,
        kind=Sanction.Kind.GROUP_MUTE,
        group=group,
        starts_at=timezone.now(),
        ends_at=until,
        reason=reason[:300],
        created_by=actor,
        report=report,
    )
    Enrollment.objects.filter(group=group, user=subject).update(muted_until=until)
    audit_record(
        actor=actor,
        action=AuditAction.SANCTION_APPLIED,
        target=sanction,
        group_id=group.pk,
        details={"kind": sanction.kind, "subject": subject.pk},
    )
    return sanction


def account_suspend(
    *, actor: User, user: User, reason: str, until: datetime | None, report: Report | None = None
) -> Sanction:
    """Suspend ``user`` until ``until`` (None: for good). Login and rooms refuse them at once;
    their open sockets close within seconds."""
    if not is_staff(actor):
        raise ServiceError("Only staff can suspend accounts.", code="forbidden")
    if user.pk == actor.pk:
        raise ServiceError("You cannot suspend yourself.", code="self")
    if not reason.strip():
        raise ServiceError("Please note a short reason.", code="reason_required")
    now = timezone.now()
    if until is not None and until <= now:
        raise ServiceError("Please choose a time in the future.", code="in_the_past")
    with transaction.atomic():
        sanction = Sanction.objects.create(
            subject=user,
            kind=Sanction.Kind.SUSPENSION,
            starts_at=now,
            ends_at=until,
            reason=reason.strip()[:300],
            created_by=actor,
            report=report,
        )
        User.objects.filter(pk=user.pk).update(suspended_until=until or FOREVER)
        audit_record(
            actor=actor,
            action=AuditAction.SANCTION_APPLIED,
            target=sanction,
            details={"kind": sanction.kind, "subject": user.pk, "permanent": until is None},
        )
        notify(
            kind=Notification.Kind.MODERATION_NOTICE,
            recipient=user,
            object_id=sanction.pk,
            code="suspended",
            until=until,
        )
    return sanction


def sanction_lift(*, actor: User | None, sanction: Sanction) -> Sanction:
    """End a sanction now (staff, or the expiry sweep with no actor); its effect ends too."""
    if actor is not None and not is_staff(actor):
        raise ServiceError("Only staff can lift sanctions.", code="forbidden")
    now = timezone.now()
    with transaction.atomic():
        locked = Sanction.objects.select_for_update().get(pk=sanction.pk)
        if locked.lifted_at is not None:
            return locked
        locked.lifted_at, locked.lifted_by = now, actor
        locked.save(update_fields=["lifted_at", "lifted_by"])
        if locked.kind == Sanction.Kind.GROUP_MUTE:
            Enrollment.objects.filter(group_id=locked.group_id, user_id=locked.subject_id).update(
                muted_until=None
            )
        else:
            User.objects.filter(pk=locked.subject_id).update(suspended_until=None)
        audit_record(
            actor=actor,
            action=AuditAction.SANCTION_LIFTED,
            target=locked,
            group_id=locked.group_id,
            details={"kind": locked.kind, "subject": locked.subject_id, "expired": actor is None},
        )
        notify(
            kind=Notification.Kind.MODERATION_NOTICE, recipient=locked.subject, object_id=locked.pk
        )
    return locked


def sanctions_expire(*, now: datetime | None = None) -> int:
    """Mark sanctions whose time is up as lifted (their effects have already lapsed). Safe to
    run twice or concurrently: each sanction is lifted once."""
    now = now or timezone.now()
    due = Sanction.objects.filter(lifted_at__isnull=True, ends_at__lte=now).values_list(
        "pk", flat=True
    )
    count = 0
    for pk in list(due):
        with transaction.atomic():
            sanction = (
                Sanction.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, lifted_at__isnull=True)
                .first()
            )
            if sanction is None:
                continue
            sanction_lift(actor=None, sanction=sanction)
            count += 1
    return count
