"""Closing rooms whose session has ended, kept by workers."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from chat.broadcast import broadcast_on_commit, room_group
from chat.models import Attendance
from chat.selectors import (
    PRESENCE_TIMEOUT,
)
from chat.services.floor import floor_close
from groups.models import GroupSession
from moderation.audit import AuditAction, audit_record


def sessions_close_due(*, now: datetime | None = None) -> int:
    """Close every room whose session has ended: one close, one audit event and one
    ``room.closed`` per session, however many workers run this at once.

    Sockets close themselves at the end anyway; this records the close, finishes attendance and
    reaches sockets whose own timer was lost. A connection still open was there until the end,
    unless it has not been seen for longer than the presence window (its process died): that one
    left when it was last seen.
    """
    now = now or timezone.now()
    due = GroupSession.objects.filter(
        closed_at__isnull=True, cancelled_at__isnull=True, ends_at__lte=now
    ).values_list("pk", "ends_at")
    closed = 0
    for session_id, ends_at in list(due):
        with transaction.atomic():
            claimed = GroupSession.objects.filter(pk=session_id, closed_at__isnull=True).update(
                closed_at=ends_at
            )
            if not claimed:
                continue  # another worker closed it
            still_open = Attendance.objects.filter(session_id=session_id, left_at__isnull=True)
            still_open.filter(last_seen_at__lt=now - PRESENCE_TIMEOUT).update(
                left_at=Least(F("last_seen_at"), Value(ends_at))
            )
            still_open.update(left_at=ends_at)
            floor_close(session_id, ends_at)
            session = GroupSession.objects.get(pk=session_id)
            audit_record(
                actor=None,
                action=AuditAction.SESSION_CLOSED,
                target=session,
                group_id=session.group_id,
                session_id=session_id,
            )
            broadcast_on_commit(room_group(session_id), {"type": "room.closed", "reason": "ended"})
            closed += 1
    return closed
