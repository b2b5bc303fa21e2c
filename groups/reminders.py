"""Session reminders, sent exactly once by a beat sweep (no far-future ETA tasks).

Each minute the sweep (1) makes the reminder rows that have fallen due — a unique constraint
per person, session and lead time means each exists once, whoever makes it — and (2) claims
due rows one at a time with ``SELECT … FOR UPDATE SKIP LOCKED``, re-checks that the reminder
is still wanted, sends it and marks it sent in the same transaction. Two sweeps at once take
different rows; a sweep killed mid-send rolls back and its row is taken again. A reminder whose
session has started is skipped, never sent late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from groups.models import Enrollment, GroupSession, Reminder, ReminderPreference

SUBJECTS = {
    Reminder.Lead.DAY: "Reminder: your group session is coming up",
    Reminder.Lead.QUARTER: "Your group session starts in 15 minutes",
}


def preference_for(user: User) -> ReminderPreference:
    preference, _ = ReminderPreference.objects.get_or_create(user=user)
    return preference


def reminders_create_due(*, now: datetime) -> int:
    """Make the reminder rows that are due now (ignoring ones that already exist)."""
    opted_out = {
        Reminder.Lead.DAY: ReminderPreference.objects.filter(day_before=False).values("user_id"),
        Reminder.Lead.QUARTER: ReminderPreference.objects.filter(quarter_hour=False).values(
            "user_id"
        ),
    }
    rows = []
    for lead in Reminder.Lead:
        sessions = GroupSession.objects.filter(
            cancelled_at__isnull=True,
            starts_at__gt=now,
            starts_at__lte=now + timedelta(minutes=lead.value),
        ).values_list("pk", "group_id", "starts_at")
        for session_id, group_id, starts_at in sessions:
            members = (
                Enrollment.objects.filter(
                    group_id=group_id,
                    state=Enrollment.State.ACTIVE,
                    user__is_active=True,
                )
                .exclude(user_id__in=opted_out[lead])
                .values_list("user_id", flat=True)
            )
            rows.extend(
                Reminder(
                    user_id=user_id,
                    session_id=session_id,
                    lead_minutes=lead.value,
                    due_at=starts_at - timedelta(minutes=lead.value),
                )
                for user_id in members
            )
    Reminder.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def _why_not(reminder: Reminder, now: datetime) -> str:
    """Why a due reminder should not go out now ("" if it should)."""
    session, user = reminder.session, reminder.user
    if session.cancelled_at is not None:
        return "cancelled"
    if session.starts_at <= now:
        return "started"  # never sent late
    if reminder.lead_minutes > Reminder.Lead.QUARTER and session.starts_at - now <= timedelta(
        minutes=Reminder.Lead.QUARTER
    ):
        return "superseded"  # the 15-minute reminder says it better now
    if not user.is_active or not user.email:
        return "inactive"
    if user.is_suspended:
        return "suspended"
    if not Enrollment.objects.filter(
        group_id=session.group_id, user=user, state=Enrollment.State.ACTIVE
    ).exists():
        return "not_enrolled"
    preference = ReminderPreference.objects.filter(user=user).first()
    if preference is not None and not preference.wants(reminder.lead_minutes):
        return "opted_out"
    return ""


def reminder_email(reminder: Reminder, preference: ReminderPreference) -> EmailMessage:
    """The email for one reminder: in the recipient's zone, with a neutral subject, no group
    topic, no other recipients, no login token; one-click unsubscribe headers."""
    user, session = reminder.user, reminder.session
    zone = ZoneInfo(user.time_zone or "UTC")
    unsubscribe = settings.SITE_URL + reverse(
        "groups:reminders_unsubscribe", args=[preference.unsubscribe_token]
    )
    # Templates show datetimes in the active zone: make it the recipient's while rendering.
    with timezone.override(zone):
        body = render_to_string(
            "emails/reminder.txt",
            {
                "recipient": user,
                "starts_at": session.starts_at,
                "ends_at": session.ends_at,
                "zone": user.time_zone or "UTC",
                "lead": reminder.lead_minutes,
                "site_url": settings.SITE_URL,
                "unsubscribe_url": unsubscribe,
            },
        )
    return EmailMessage(
        subject=settings.ACCOUNT_EMAIL_SUBJECT_PREFIX
        + SUBJECTS[Reminder.Lead(reminder.lead_minutes)],
        body=body,
        to=[user.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            # Deterministic, so a mail server that sees the same reminder twice can drop one.
            "Message-ID": f"<reminder-{reminder.pk}@hearth>",
        },
    )


@dataclass
class SweepResult:
    created: int = 0
    sent: int = 0
    skipped: int = 0


def reminders_send_due(*, now: datetime | None = None, limit: int = 5000) -> SweepResult:
    """Create due reminders, then send each once (see the module docstring)."""
    now = now or timezone.now()
    result = SweepResult(created=reminders_create_due(now=now))
    for _ in range(limit):
        with transaction.atomic():
            reminder = (
                Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("user", "session")
                .filter(sent_at__isnull=True, skipped_at__isnull=True, due_at__lte=now)
                .order_by("due_at", "pk")
                .first()
            )
            if reminder is None:
                break
            reason = _why_not(reminder, timezone.now())
            if reason:
                reminder.skipped_at, reminder.skip_reason = timezone.now(), reason
                reminder.save(update_fields=["skipped_at", "skip_reason"])
                result.skipped += 1
                continue
            reminder_email(reminder, preference_for(reminder.user)).send()
            reminder.sent_at = timezone.now()
            reminder.save(update_fields=["sent_at"])
            result.sent += 1
    return result


def rooms_announce_opening(*, now: datetime | None = None) -> int:
    """Tell the facilitators of each session whose room has just opened, once per session."""
    from accounts.models import Notification
    from accounts.notifications import notify
    from groups import rights
    from groups.models import TherapyGroupUserObjectPermission

    now = now or timezone.now()
    candidates = GroupSession.objects.filter(
        opening_notice_at__isnull=True,
        cancelled_at__isnull=True,
        closed_at__isnull=True,
        starts_at__gt=now,
        starts_at__lte=now + timedelta(minutes=60),
    ).values_list("pk", "group_id", "starts_at", "room_opens_minutes")
    told = 0
    for session_id, group_id, starts_at, lead in list(candidates):
        if starts_at - timedelta(minutes=lead) > now:
            continue  # not open yet
        with transaction.atomic():
            if not GroupSession.objects.filter(
                pk=session_id, opening_notice_at__isnull=True
            ).update(opening_notice_at=now):
                continue  # another worker told them
            holders = TherapyGroupUserObjectPermission.objects.filter(
                content_object_id=group_id, permission__codename=rights.FACILITATE
            ).values_list("user_id", flat=True)
            for user in User.objects.filter(pk__in=holders, is_active=True):
                notify(
                    kind=Notification.Kind.ROOM_OPEN,
                    recipient=user,
                    group_id=group_id,
                    session_id=session_id,
                )
            told += 1
    return told
