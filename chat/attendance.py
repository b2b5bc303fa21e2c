"""Attendance records: one row per person per session, read off the per-connection rows.

Why computed on reading, not kept: ``Attendance`` already holds every connection (one row per
socket, written on join and leave, refreshed by the re-check). A second, aggregated row kept
up to date by the services would add a write under contention to every join, leave and
re-check (the room's hot path, measured by ``bench/rooms.py``) and could still be wrong where
a process died without leaving. The record is read rarely (a facilitator after a session), and
a session has at most a few hundred connections: two queries and a merge in Python of
intervals sorted by the database (measured: about 30 ms for 50 people with six connections
each, 300 rows, on a busy two-core development machine).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, OuterRef, Subquery

from chat.models import Attendance, Participant, RoundTurn
from chat.selectors import PRESENCE_TIMEOUT
from groups.models import GroupSession


@dataclass(frozen=True)
class AttendanceRecord:
    """One person's attendance of one session."""

    participant_id: int
    name: str
    is_facilitator: bool
    removed: bool
    first_joined: datetime
    last_left: datetime | None  # None only while still connected to a session not yet closed
    minutes_present: int
    messages_sent: int
    turns: int | None  # turns taken or passed in rounds; None when none

    @property
    def still_connected(self) -> bool:
        return self.last_left is None


def _turns_taken() -> Subquery:
    """Per participant (``OuterRef("pk")``): the turns they took (spoke) or passed in the
    session's rounds; empty when none. Turns skipped or never reached do not count."""
    return Subquery(
        RoundTurn.objects.filter(
            participant=OuterRef("pk"),
            state__in=[RoundTurn.State.SPOKEN, RoundTurn.State.PASSED],
        )
        .order_by()
        .values("participant")
        .annotate(count=Count("id"))
        .values("count")
    )


def _connection_end(row: Attendance, *, closes_at: datetime, now: datetime) -> datetime | None:
    """When this connection ended, as a record should say it; None if it is still open.

    A connection not seen within the presence window had gone when it was last seen (its
    process died); once the room has closed, one still open counts as left at the close.
    """
    if row.left_at is not None:
        return min(row.left_at, closes_at)
    if row.last_seen_at < min(now, closes_at) - PRESENCE_TIMEOUT:
        return min(row.last_seen_at, closes_at)
    if closes_at <= now:
        return closes_at
    return None


def _merged_seconds(
    intervals: list[tuple[datetime, datetime]], *, starts_at: datetime, closes_at: datetime
) -> float:
    """Seconds covered by ``intervals`` (sorted by start) within the session's time: overlapping
    connections (two tabs, a phone and a laptop) count once."""
    total = 0.0
    current_start: datetime | None = None
    current_end: datetime | None = None
    for start, end in intervals:
        start, end = max(start, starts_at), min(end, closes_at)
        if end <= start:
            continue
        if current_end is None or start > current_end:
            if current_start is not None and current_end is not None:
                total += (current_end - current_start).total_seconds()
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None and current_end is not None:
        total += (current_end - current_start).total_seconds()
    return total


def attendance_records(*, session: GroupSession, now: datetime) -> list[AttendanceRecord]:
    """Everyone who came into the session's room, facilitators first, then by name.

    Minutes present count the time connected between the session's start and its close
    (time in the room before the start is not part of the session).
    """
    closes_at = session.closes_at
    participants = Participant.objects.filter(session=session).annotate(
        messages_sent=Count("messages"), turns_taken=_turns_taken()
    )
    connections: dict[int, list[Attendance]] = {}
    for row in Attendance.objects.filter(session=session).order_by("participant_id", "joined_at"):
        connections.setdefault(row.participant_id, []).append(row)
    records = []
    for participant in participants:
        rows = connections.get(participant.pk, [])
        if not rows:
            continue
        ends = [_connection_end(row, closes_at=closes_at, now=now) for row in rows]
        until = min(now, closes_at)
        seconds = _merged_seconds(
            [(row.joined_at, end or until) for row, end in zip(rows, ends, strict=True)],
            starts_at=session.starts_at,
            closes_at=until,
        )
        records.append(
            AttendanceRecord(
                participant_id=participant.pk,
                name=participant.name,
                is_facilitator=participant.is_facilitator,
                removed=participant.removed_at is not None,
                first_joined=rows[0].joined_at,
                last_left=None if None in ends else max(e for e in ends if e is not None),
                minutes_present=round(seconds / 60),
                messages_sent=participant.messages_sent,
                turns=participant.turns_taken,
            )
        )
    return sorted(records, key=lambda r: (not r.is_facilitator, r.name.casefold()))


ATTENDANCE_CSV_HEADER = [
    "name_in_group",
    "role",
    "first_joined_utc",
    "last_left_utc",
    "minutes_present",
    "messages_sent",
    "turns_in_rounds",
]


def attendance_csv_row(record: AttendanceRecord) -> list[str]:
    """One record as a CSV row (times in UTC, ISO 8601); the name is made safe for spreadsheets
    by the writer (``accounts.text.spreadsheet_safe``)."""
    return [
        record.name,
        "facilitator" if record.is_facilitator else "member",
        record.first_joined.isoformat(),
        record.last_left.isoformat() if record.last_left else "",
        str(record.minutes_present),
        str(record.messages_sent),
        "" if record.turns is None else str(record.turns),
    ]


__all__ = [
    "ATTENDANCE_CSV_HEADER",
    "AttendanceRecord",
    "attendance_csv_row",
    "attendance_records",
]
