"""Transcripts expire: message bodies are deleted a group's retention period after each session.

Policy (also in docs/architecture.md): a message's body is emptied ``transcript_retention_days``
(default 30) after its session ended; the row stays (position, author handle, times), so order
and attendance stay intact. Messages attached to an open or escalated report are kept until the
report is closed, then the next run deletes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from chat.models import Message
from groups.models import TherapyGroup
from moderation.audit import AuditAction, audit_record
from moderation.models import Report


def transcripts_purge(*, now: datetime | None = None) -> int:
    """Delete the bodies of expired messages; return how many. Safe to run twice."""
    now = now or timezone.now()
    held = Report.objects.exclude(status=Report.Status.CLOSED).filter(message__isnull=False)
    total = 0
    periods = TherapyGroup.objects.values_list("transcript_retention_days", flat=True).distinct()
    for days in sorted(set(periods)):
        with transaction.atomic():
            purged = (
                Message.objects.filter(
                    session__group__transcript_retention_days=days,
                    session__ends_at__lt=now - timedelta(days=days),
                    purged_at__isnull=True,
                )
                .exclude(pk__in=held.values("message_id"))
                .update(body="", purged_at=now)
            )
            if purged:
                audit_record(
                    actor=None,
                    action=AuditAction.TRANSCRIPTS_PURGED,
                    details={"messages": purged, "retention_days": days},
                )
            total += purged
    return total
