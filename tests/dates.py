"""Dates for tests that hold whatever day the tests run on.

The services refuse times in the past (and more than two years ahead), so tests plan their
sessions in next year, and find that year's clock changes instead of hard-coding them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)


def next_year() -> int:
    return timezone.now().year + 1


def next_year_on(month: int, day: int) -> date:
    """A date next year: always in the future, and always within two years."""
    return date(next_year(), month, day)


def in_winter(weekday: int) -> date:
    """A ``weekday`` in early February next year, when London and New York both keep standard
    time (GMT and UTC-5, five hours apart)."""
    return on_or_after(next_year_on(2, 1), weekday)


@dataclass(frozen=True)
class ClockChange:
    day: date  # the local date on which the clocks change, in the small hours
    before: timedelta  # the UTC offset until then
    after: timedelta  # and from then on

    @property
    def forward(self) -> bool:
        return self.after > self.before


def clock_changes(zone: str, year: int) -> list[ClockChange]:
    """The days of ``year`` on which ``zone``'s UTC offset changes, found by comparing each
    day's noon with the noon before it (clocks change at night)."""
    tz = ZoneInfo(zone)

    def offset(day: date) -> timedelta:
        result = datetime.combine(day, time(12), tzinfo=tz).utcoffset()
        assert result is not None
        return result

    changes = []
    day = date(year, 1, 1)
    while day.year == year:
        before, after = offset(day - timedelta(days=1)), offset(day)
        if before != after:
            changes.append(ClockChange(day=day, before=before, after=after))
        day += timedelta(days=1)
    return changes


def spring_forward(zone: str, year: int | None = None) -> date:
    """The day the clocks go forward in ``zone`` (next year unless told)."""
    [change] = [c for c in clock_changes(zone, year or next_year()) if c.forward]
    return change.day


def fall_back(zone: str, year: int | None = None) -> date:
    """The day the clocks go back in ``zone`` (next year unless told)."""
    [change] = [c for c in clock_changes(zone, year or next_year()) if not c.forward]
    return change.day


def on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def before(day: date, weekday: int) -> date:
    """The last ``weekday`` strictly before ``day``."""
    return day - timedelta(days=(day.weekday() - weekday - 1) % 7 + 1)


def after(day: date, weekday: int) -> date:
    """The first ``weekday`` strictly after ``day``."""
    return on_or_after(day + timedelta(days=1), weekday)


def local_today(zone: str) -> date:
    return timezone.now().astimezone(ZoneInfo(zone)).date()
