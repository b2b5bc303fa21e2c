"""Opening a session's attendance records: for the group's facilitators only, and recorded.

Attendance is part of a group's clinical record, so every reading (the page) and every
download (the CSV) is an audit event, with the session and a count, never names.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from accounts.exceptions import ServiceError
from accounts.models import User
from chat.attendance import AttendanceRecord, attendance_records
from groups import rights
from groups.models import GroupSession
from moderation.audit import AuditAction, audit_record


def attendance_open(
    *, actor: User, session: GroupSession, now: datetime, download: bool = False
) -> list[AttendanceRecord]:
    """The session's attendance records for one of its group's facilitators to read (or, with
    ``download``, to take away as CSV); the reading is recorded."""
    if not rights.has_right(user=actor, group=session.group, right=rights.FACILITATE):
        raise ServiceError("Only the group's facilitators can see attendance.", code="forbidden")
    with transaction.atomic():
        records = attendance_records(session=session, now=now)
        audit_record(
            actor=actor,
            action=AuditAction.ATTENDANCE_EXPORTED if download else AuditAction.ATTENDANCE_READ,
            target=session,
            group_id=session.group_id,
            session_id=session.pk,
            details={"people": len(records)},
        )
    return records
