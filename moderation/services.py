"""Writes for moderation: reports, the actions taken on them, and sanctions.

Every action needs a short reason, tells the person affected in plain words (by a neutral email),
tells the reporter their report was handled (never the details), and writes exactly one audit
event in its transaction: the row of its effect (message hidden, member warned, sanction applied,
enrollment removed), which names the report in its details; dismissing and escalating write the
report's own row. Facilitators act on their own groups' reports, except those about themselves or
another facilitator of the group, which go to staff; staff act on all of them (but never on a
report about themselves), without needing rights on the group.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import Notification, User
from accounts.notifications import notify
from accounts.roles import Role
from accounts.text import bounded
from chat.broadcast import broadcast_on_commit, facilitators_group
from chat.models import Message
from chat.services import message_hide, person_recheck_sockets
from groups import rights
from groups.models import (
    Enrollment,
    GroupSession,
    TherapyGroup,
    TherapyGroupUserObjectPermission,
)
from groups.services import enrollment_remove
from moderation.audit import AuditAction, audit_record
from moderation.decisions import ACTIONS, report_actions
from moderation.models import DECISION_REASON_MAX, NOTE_MAX, Report, Sanction
from moderation.selectors import facilitates, is_staff, takes_part

# The notification code that marks "someone may be in danger" urgent in the reviewers' email.
URGENT = "urgent"

# A permanent suspension is a date no one will reach.
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


def can_review(user: User, report: Report) -> bool:
    """Whether ``user`` may open and decide ``report``.

    Nobody reviews a report about themselves. Staff review everything else. Facilitators review
    their own groups' reports unless escalated or about one of the group's facilitators (those
    are for staff, as if escalated).
    """
    if report.subject_id is not None and report.subject_id == user.pk:
        return False
    if is_staff(user):
        return True
    if report.status == Report.Status.ESCALATED:
        return False
    if not rights.has_right(user=user, group=report.group, right=rights.FACILITATE):
        return False
    return report.subject_id is None or not facilitates(
        user_id=report.subject_id, group_id=report.group_id
    )


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

    Anyone taking part in the group may report. The group's facilitators are told, or staff
    when the report is about a facilitator of the group (it is filed as escalated: staff decide
    it). "Someone may be in danger" alerts the group's facilitators and staff at once.
    """
    if reason not in Report.Reason.values:
        raise ServiceError("Please choose a reason from the list.", code="reason")
    note = bounded(note, limit=NOTE_MAX, noun="Notes", multiline=True)
    if not takes_part(user=actor, group=group):
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
    about_a_facilitator = subject is not None and facilitates(user_id=subject.pk, group_id=group.pk)
    with transaction.atomic():
        report = Report.objects.create(
            reporter=actor,
            group=group,
            session=session,
            message=message,
            subject=subject,
            reason=reason,
            note=note,
            status=Report.Status.ESCALATED if about_a_facilitator else Report.Status.OPEN,
            escalated_at=timezone.now() if about_a_facilitator else None,
        )
        audit_record(
            actor=actor,
            action=AuditAction.REPORT_FILED,
            target=report,
            group_id=group.pk,
            session_id=session.pk if session else None,
            details={"reason": reason} | ({"to_staff": True} if about_a_facilitator else {}),
        )
        danger = reason == Report.Reason.DANGER
        told: dict[int, User] = {}
        if danger or not about_a_facilitator:
            told |= {person.pk: person for person in _facilitators(group)}
        if danger or about_a_facilitator:
            told |= {person.pk: person for person in _staff()}
        if danger and session is not None:  # facilitators in the room hear at once, by email too
            broadcast_on_commit(
                facilitators_group(session.pk),
                {"type": "report.alert", "position": message.position if message else None},
            )
        for person in told.values():
            if person.pk not in (actor.pk, report.subject_id):
                notify(
                    kind=Notification.Kind.REPORT_NEEDS_REVIEW,
                    recipient=person,
                    group_id=group.pk,
                    object_id=report.pk,
                    code=URGENT if danger else "",
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


def _decision_reason(reason: str) -> str:
    """The reason for a decision, cleaned; refused when empty or too long (never cut)."""
    reason = bounded(reason, limit=DECISION_REASON_MAX, noun="Reasons")
    if not reason:
        raise ServiceError("Please note a short reason.", code="reason_required")
    return reason


def _decide(*, actor: User, report: Report, reason: str, outcome: str) -> Report:
    """Close ``report`` with ``outcome`` and tell the reporter; call inside a transaction.

    The caller records the one audit row of the decision (its effect, naming the report).
    """
    reason = _decision_reason(reason)
    locked = Report.objects.select_for_update().get(pk=report.pk)
    if not can_review(actor, locked):
        raise ServiceError("You cannot review this report.", code="forbidden")
    if locked.status == Report.Status.CLOSED:
        raise ServiceError("This report has already been handled.", code="closed")
    locked.status = Report.Status.CLOSED
    locked.outcome = outcome
    locked.decision_reason = reason
    locked.closed_at = timezone.now()
    locked.closed_by = actor
    locked.save(update_fields=["status", "outcome", "decision_reason", "closed_at", "closed_by"])
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


def _require_subject(report: Report) -> User:
    if report.subject is None:
        raise ServiceError("This report is not about a member.", code="no_subject")
    return report.subject


def report_dismiss(*, actor: User, report: Report, reason: str) -> Report:
    with transaction.atomic():
        decided = _decide(
            actor=actor, report=report, reason=reason, outcome=Report.Outcome.DISMISSED
        )
        audit_record(
            actor=actor,
            action=AuditAction.REPORT_DISMISSED,
            target=decided,
            group_id=decided.group_id,
            session_id=decided.session_id,
            details={"outcome": decided.outcome},
        )
    return decided


def report_hide_message(*, actor: User, report: Report, reason: str) -> Report:
    """Hide the reported message for everyone ("removed by the facilitator"); its author is
    told, without the message's words."""
    if report.message_id is None:
        raise ServiceError("This report is not about a message.", code="no_message")
    with transaction.atomic():
        decided = _decide(
            actor=actor, report=report, reason=reason, outcome=Report.Outcome.MESSAGE_HIDDEN
        )
        message = Message.objects.select_for_update().get(pk=report.message_id)
        if message.hidden_at is None:
            message_hide(
                actor=actor,
                session_id=message.session_id,
                position=message.position,
                report_id=decided.pk,
            )
        else:  # already hidden in the room: the decision is the only thing to record
            audit_record(
                actor=actor,
                action=AuditAction.REPORT_RESOLVED,
                target=decided,
                group_id=decided.group_id,
                session_id=decided.session_id,
                details={"outcome": decided.outcome},
            )
        _tell_subject(decided, code="message_hidden")
    return decided


def report_warn(*, actor: User, report: Report, reason: str) -> Report:
    """Warn the member: they are told a facilitator has concerns, in plain words."""
    subject = _require_subject(report)
    with transaction.atomic():
        decided = _decide(actor=actor, report=report, reason=reason, outcome=Report.Outcome.WARNED)
        audit_record(
            actor=actor,
            action=AuditAction.MEMBER_WARNED,
            target=subject,
            group_id=decided.group_id,
            session_id=decided.session_id,
            details={"report": decided.pk},
        )
        _tell_subject(decided, code="warned")
    return decided


def report_mute(*, actor: User, report: Report, reason: str, until: datetime) -> Report:
    """Mute the member in this group's rooms until ``until`` (they can still read)."""
    subject = _require_subject(report)
    now = timezone.now()
    if until <= now:
        raise ServiceError("Please choose a time in the future.", code="in_the_past")
    with transaction.atomic():
        decided = _decide(actor=actor, report=report, reason=reason, outcome=Report.Outcome.MUTED)
        _apply_group_mute(
            actor=actor,
            subject=subject,
            group=decided.group,
            until=until,
            reason=reason,
            report=decided,
        )
        _tell_subject(decided, code="muted", until=until)
    return decided


def report_remove(*, actor: User, report: Report, reason: str) -> Report:
    """Remove the member from the group (through the groups service, which frees the place
    and tells them)."""
    with transaction.atomic():
        decided = _decide(actor=actor, report=report, reason=reason, outcome=Report.Outcome.REMOVED)
        enrollment = (
            Enrollment.objects.filter(
                group_id=decided.group_id,
                user_id=decided.subject_id,
                state__in=[Enrollment.State.ACTIVE, Enrollment.State.WAITLISTED],
            ).first()
            if decided.subject_id is not None
            else None
        )
        if enrollment is None:
            raise ServiceError("This person is not in the group any more.", code="not_enrolled")
        enrollment_remove(actor=actor, enrollment=enrollment, reason=reason, report_id=decided.pk)
    return decided


def report_escalate(*, actor: User, report: Report, reason: str) -> Report:
    """Hand the report to staff; they are told at once."""
    reason = _decision_reason(reason)
    with transaction.atomic():
        locked = Report.objects.select_for_update().get(pk=report.pk)
        if not can_review(actor, locked) or locked.status != Report.Status.OPEN:
            raise ServiceError("This report cannot be escalated now.", code="forbidden")
        locked.status = Report.Status.ESCALATED
        locked.escalated_at = timezone.now()
        locked.decision_reason = reason
        locked.save(update_fields=["status", "escalated_at", "decision_reason"])
        audit_record(
            actor=actor,
            action=AuditAction.REPORT_ESCALATED,
            target=locked,
            group_id=locked.group_id,
            session_id=locked.session_id,
        )
        for person in _staff():
            if person.pk != locked.subject_id:
                notify(
                    kind=Notification.Kind.REPORT_NEEDS_REVIEW,
                    recipient=person,
                    object_id=locked.pk,
                    code=URGENT if locked.is_urgent else "",
                )
    return locked


def report_suspend(*, actor: User, report: Report, reason: str, until: datetime | None) -> Report:
    """Staff only: suspend the reported person's account, for a time or for good."""
    if not is_staff(actor):
        raise ServiceError("Only staff can suspend accounts.", code="forbidden")
    subject = _require_subject(report)
    if facilitates(user_id=subject.pk, group_id=report.group_id):
        raise ServiceError(
            "This report is about one of the group's facilitators: suspending them is not one "
            "of the actions for it.",
            code="not_applicable",
        )
    with transaction.atomic():
        decided = _decide(
            actor=actor, report=report, reason=reason, outcome=Report.Outcome.SUSPENDED
        )
        account_suspend(actor=actor, user=subject, reason=reason, until=until, report=decided)
    return decided


# --- Sanctions -----------------------------------------------------------------------------------


def _sanction_effect_sync(*, kind: str, subject_id: int, group_id: int | None) -> datetime | None:
    """Set the fact other apps honour (``Enrollment.muted_until`` for a group mute,
    ``User.suspended_until`` for a suspension) from the person's sanctions of that kind and
    scope still in force: the latest end wins, and a permanent one beats any timed one.

    Returns the new end (None: no longer restricted). Call inside the transaction that
    applied or lifted a sanction; the person's row is locked here, so two changes at once
    cannot each miss the other's sanction.
    """
    User.objects.select_for_update().only("pk").get(pk=subject_id)
    now = timezone.now()
    in_force = Sanction.objects.filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now),
        subject_id=subject_id,
        kind=kind,
        lifted_at__isnull=True,
    )
    if kind == Sanction.Kind.GROUP_MUTE:
        in_force = in_force.filter(group_id=group_id)
    ends = list(in_force.values_list("ends_at", flat=True))
    end = None if not ends else FOREVER if None in ends else max(e for e in ends if e)
    if kind == Sanction.Kind.GROUP_MUTE:
        Enrollment.objects.filter(group_id=group_id, user_id=subject_id).update(muted_until=end)
    else:
        User.objects.filter(pk=subject_id).update(suspended_until=end)
        person_recheck_sockets(user_id=subject_id)
    return end


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
        reason=bounded(reason, limit=DECISION_REASON_MAX, noun="Reasons"),
        created_by=actor,
        report=report,
    )
    _sanction_effect_sync(kind=sanction.kind, subject_id=subject.pk, group_id=group.pk)
    audit_record(
        actor=actor,
        action=AuditAction.SANCTION_APPLIED,
        target=sanction,
        group_id=group.pk,
        details={"kind": sanction.kind, "subject": subject.pk}
        | ({"report": report.pk} if report is not None else {}),
    )
    return sanction


def account_suspend(
    *, actor: User, user: User, reason: str, until: datetime | None, report: Report | None = None
) -> Sanction:
    """Suspend ``user`` until ``until`` (None: for good). Login and rooms refuse them at once;
    their open sockets close within seconds. A longer suspension already in force still holds."""
    if not is_staff(actor):
        raise ServiceError("Only staff can suspend accounts.", code="forbidden")
    if user.pk == actor.pk:
        raise ServiceError("You cannot suspend yourself.", code="self")
    reason = _decision_reason(reason)
    now = timezone.now()
    if until is not None and until <= now:
        raise ServiceError("Please choose a time in the future.", code="in_the_past")
    with transaction.atomic():
        sanction = Sanction.objects.create(
            subject=user,
            kind=Sanction.Kind.SUSPENSION,
            starts_at=now,
            ends_at=until,
            reason=reason,
            created_by=actor,
            report=report,
        )
        _sanction_effect_sync(kind=sanction.kind, subject_id=user.pk, group_id=None)
        audit_record(
            actor=actor,
            action=AuditAction.SANCTION_APPLIED,
            target=sanction,
            # A suspension covers the whole platform; one decided on a report is found with
            # that report's group.
            group_id=report.group_id if report is not None else None,
            details={"kind": sanction.kind, "subject": user.pk, "permanent": until is None}
            | ({"report": report.pk} if report is not None else {}),
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
    """End a sanction now (staff, or the expiry sweep with no actor).

    Its effect ends too, unless another sanction of the same kind and scope still holds: the
    effect is recomputed from those. The person is told only when they are free again.
    """
    if actor is not None and not is_staff(actor):
        raise ServiceError("Only staff can lift sanctions.", code="forbidden")
    now = timezone.now()
    with transaction.atomic():
        locked = Sanction.objects.select_for_update().get(pk=sanction.pk)
        if locked.lifted_at is not None:
            return locked
        locked.lifted_at, locked.lifted_by = now, actor
        locked.save(update_fields=["lifted_at", "lifted_by"])
        still_until = _sanction_effect_sync(
            kind=locked.kind, subject_id=locked.subject_id, group_id=locked.group_id
        )
        audit_record(
            actor=actor,
            action=AuditAction.SANCTION_LIFTED,
            target=locked,
            group_id=locked.group_id,
            details={"kind": locked.kind, "subject": locked.subject_id, "expired": actor is None},
        )
        if still_until is None:
            notify(
                kind=Notification.Kind.MODERATION_NOTICE,
                recipient=locked.subject,
                group_id=locked.group_id,
                object_id=locked.pk,
                code="unmuted" if locked.kind == Sanction.Kind.GROUP_MUTE else "unsuspended",
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


def report_decide(
    *, actor: User, report: Report, action: str, reason: str, until: datetime | None = None
) -> Report:
    """Take one of the review page's actions on ``report``: the one way in for the page (and
    for tests that act as it does). ``until`` is required to mute; without it a suspension
    has no end. Only the actions that apply to this report are taken
    (``moderation.decisions``)."""
    if not can_review(actor, report):
        raise ServiceError("You cannot review this report.", code="forbidden")
    if action in ACTIONS and action not in report_actions(reviewer=actor, report=report):
        if action == "suspend" and not is_staff(actor):
            raise ServiceError("Only staff can suspend accounts.", code="forbidden")
        raise ServiceError(
            "That action does not apply to this report; please choose one of those offered.",
            code="not_applicable",
        )
    if action == "mute":
        if until is None:
            raise ServiceError("Please say for how many days.", code="days_required")
        return report_mute(actor=actor, report=report, reason=reason, until=until)
    if action == "suspend":
        return report_suspend(actor=actor, report=report, reason=reason, until=until)
    handler = {
        "dismiss": report_dismiss,
        "hide": report_hide_message,
        "warn": report_warn,
        "remove": report_remove,
        "escalate": report_escalate,
    }.get(action)
    if handler is None:
        raise ServiceError("Please choose what to do.", code="invalid_action")
    return handler(actor=actor, report=report, reason=reason)
