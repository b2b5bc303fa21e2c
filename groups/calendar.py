"""Sessions as an RFC 5545 calendar, for the personal feed and one-session downloads.

An event must not say what a group is about: calendars are shared with partners, employers and
phones' lock screens. Titles are neutral unless the person opts in to group names, and the
topic never appears at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from groups.models import GroupSession

PRODID = "-//Hearth//Group sessions//EN"
NEUTRAL_SUMMARY = "Hearth group session"


def session_uid(session: GroupSession) -> str:
    """The event's UID; stable, so a moved or cancelled session updates the same event."""
    return f"session-{session.pk}@hearth"


def _event(
    session: GroupSession, *, include_group_names: bool, schedule_url: str, now: datetime
) -> Event:
    zone = ZoneInfo(session.group.time_zone)
    cancelled = session.cancelled_at is not None
    description = f"Join from My schedule on Hearth: {schedule_url}"
    if cancelled:
        description = f"This session was cancelled.\n\n{description}"
    event = Event()
    event.add("uid", session_uid(session))
    event.add("dtstamp", now)
    # In the group's zone (with its TZID), so the series keeps its wall-clock time across
    # clock changes and each calendar converts it for its owner.
    event.add("dtstart", session.starts_at.astimezone(zone))
    event.add("dtend", session.ends_at.astimezone(zone))
    event.add("sequence", session.sequence)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add(
        "summary", f"Hearth: {session.group.title}" if include_group_names else NEUTRAL_SUMMARY
    )
    event.add("description", description)
    event.add("url", schedule_url)
    return event


def build_calendar(
    *,
    sessions: Iterable[GroupSession],
    include_group_names: bool,
    site_url: str,
    name: str = "Hearth",
) -> bytes:
    """Return ``sessions`` as an iCalendar file; pass sessions with their group selected."""
    schedule_url = f"{site_url.rstrip('/')}/schedule/"
    now = datetime.now(UTC)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    for session in sessions:
        cal.add_component(
            _event(
                session,
                include_group_names=include_group_names,
                schedule_url=schedule_url,
                now=now,
            )
        )
    cal.add_missing_timezones()
    return cal.to_ical()
