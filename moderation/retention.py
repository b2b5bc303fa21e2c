"""Transcripts expire: message bodies are deleted a group's retention period after each session.

Policy (also in docs/architecture.md): a message's body is emptied ``transcript_retention_days``
(default 30) after its session ended, and so is the prompt of each of its rounds; the row stays
(position, author handle, times), so order and attendance stay intact. Messages attached to an open
or escalated report are kept until the report is closed, then the next run deletes them.

Facilitators' private notes (``groups.SessionNote``) follow the same period: the notes of a
session are deleted, rows and all, ``transcript_retention_days`` after it ended
(``notes_purge``, in the same daily run), and so do members' check-out answers
(``groups.CheckOut``, ``checkouts_purge``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chat.models import Message, Round
from groups.models import CheckOut, SessionNote, TherapyGroup
from moderation.audit import AuditAction, audit_record
from moderation.models import Report


def _each_retention_period(
    *, now: datetime, action: AuditAction, noun: str, purge: Callable[[Q], int]
) -> int:
    """Call ``purge`` with the condition "the session ended longer ago than its group keeps
    transcripts", once per retention period in use, each in its own transaction with one
    audit row for what it purged; return the total."""
    total = 0
    periods = TherapyGroup.objects.values_list("transcript_retention_days", flat=True).distinct()
    for days in sorted(set(periods)):
        expired = Q(
            session__group__transcript_retention_days=days,
            session__ends_at__lt=now - timedelta(days=days),
        )
        with transaction.atomic():
            purged = purge(expired)
            if purged:
                audit_record(
                    actor=None, action=action, details={noun: purged, "retention_days": days}
                )
        total += purged
    return total


def transcripts_purge(*, now: datetime | None = None) -> int:
    """Delete the bodies of expired messages, and the prompts of expired rounds (a
    facilitator's own words to the group); return how many messages. Safe to run twice."""
    now = now or timezone.now()
    held = Report.objects.exclude(status=Report.Status.CLOSED).filter(message__isnull=False)

    def purge(expired: Q) -> int:
        Round.objects.filter(expired).exclude(prompt="").update(prompt="")
        return (
            Message.objects.filter(expired, purged_at__isnull=True)
            .exclude(pk__in=held.values("message_id"))
            .update(body="", purged_at=now)
        )

    return _each_retention_period(
        now=now, action=AuditAction.TRANSCRIPTS_PURGED, noun="messages", purge=purge
    )


def notes_purge(*, now: datetime | None = None) -> int:
    """Delete facilitators' notes on sessions past their group's retention; return how many.
    Safe to run twice: what is deleted is not found again."""
    return _each_retention_period(
        now=now or timezone.now(),
        action=AuditAction.NOTES_PURGED,
        noun="notes",
        purge=lambda expired: SessionNote.objects.filter(expired).delete()[0],
    )


def checkouts_purge(*, now: datetime | None = None) -> int:
    """Delete members' check-out answers on sessions past their group's retention; return how
    many. Safe to run twice: what is deleted is not found again."""
    return _each_retention_period(
        now=now or timezone.now(),
        action=AuditAction.CHECKOUTS_PURGED,
        noun="checkouts",
        purge=lambda expired: CheckOut.objects.filter(expired).delete()[0],
    )
