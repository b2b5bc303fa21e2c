"""Wall-clock times in a group's time zone, and the recurrence rules that repeat them.

A weekly session at 18:00 in London stays at 18:00 in London across the clock changes, so its
UTC instant moves; every conversion goes through these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule
from django.utils import timezone

from accounts.exceptions import ServiceError

MAX_SESSIONS_PER_SERIES = 52
MAX_SERIES_SPAN = timedelta(days=366)
# Sessions are planned at most this far ahead (about two years), which also keeps every date
# far from the edges of what Python's datetime can hold.
MAX_DAYS_AHEAD = 731


def today_in(time_zone: str, *, now: datetime | None = None) -> date:
    """Today's date in ``time_zone``."""
    return (now or timezone.now()).astimezone(ZoneInfo(time_zone)).date()


def last_plannable_date(time_zone: str, *, now: datetime | None = None) -> date:
    """The last date in ``time_zone`` on which a session can be planned."""
    return today_in(time_zone, now=now) + timedelta(days=MAX_DAYS_AHEAD)


def too_far_ahead(last: date) -> ServiceError:
    return ServiceError(
        f"Sessions can be planned up to two years ahead, that is until {last:%A %-d %B %Y}. "
        "Please choose an earlier date.",
        code="too_far_ahead",
    )


def check_within_horizon(starts_local: list[datetime], *, time_zone: str, now: datetime) -> None:
    """Refuse wall-clock starts in ``time_zone`` more than two years ahead of ``now``."""
    last = last_plannable_date(time_zone, now=now)
    if max(starts_local).date() > last:
        raise too_far_ahead(last)


def out_of_range() -> ServiceError:
    """For a date so far away that the calendar arithmetic cannot even be done."""
    return ServiceError("Please choose a date within the next two years.", code="out_of_range")


def to_utc(local: datetime, *, time_zone: str) -> datetime:
    """The UTC instant of a wall-clock time in ``time_zone``.

    A time that does not exist there (skipped when the clocks go forward) is refused; a time
    that happens twice (when they go back) means the first of the two.
    """
    if local.tzinfo is not None:
        raise ValueError("to_utc takes a wall-clock (naive) time")
    zone = ZoneInfo(time_zone)
    aware = local.replace(tzinfo=zone, fold=0)
    try:
        instant = aware.astimezone(UTC)
        round_trip = instant.astimezone(zone).replace(tzinfo=None)
    except (OverflowError, ValueError) as error:  # near year 1 or 9999
        raise out_of_range() from error
    if round_trip != local:
        raise ServiceError(
            f"{local:%H:%M} on {local:%A %-d %B %Y} does not exist in {time_zone}, because the "
            "clocks go forward that night. Please choose another time.",
            code="nonexistent_time",
        )
    return instant


def to_local(instant: datetime, *, time_zone: str) -> datetime:
    """The wall-clock (naive) time of ``instant`` in ``time_zone``."""
    return instant.astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)


@dataclass(frozen=True)
class Recurrence:
    """Every ``interval_weeks`` weeks from the first start, ``count`` times or ``until`` a date."""

    interval_weeks: int = 1
    count: int | None = None
    until: date | None = None

    def rule(self) -> str:
        parts = ["FREQ=WEEKLY", f"INTERVAL={self.interval_weeks}"]
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until:%Y%m%d}T235959")
        return ";".join(parts)

    def starts(self, first_local: datetime) -> list[datetime]:
        """The wall-clock starts, beginning with ``first_local``."""
        if self.interval_weeks not in (1, 2, 3, 4):
            raise ServiceError("Sessions can repeat every 1, 2, 3 or 4 weeks.", code="interval")
        if (self.count is None) == (self.until is None):
            raise ServiceError(
                "Say either how many sessions there are, or the date of the last one.",
                code="count_or_until",
            )
        if self.count is not None and not 1 <= self.count <= MAX_SESSIONS_PER_SERIES:
            raise ServiceError(
                f"A series can have between 1 and {MAX_SESSIONS_PER_SERIES} sessions.",
                code="count",
            )
        until = None
        if self.until is not None:
            if self.until < first_local.date():
                raise ServiceError(
                    "The last date is before the first session.", code="until_before_start"
                )
            if self.until - first_local.date() > MAX_SERIES_SPAN:
                raise ServiceError(
                    "A series can run for at most a year. Plan the next one later.", code="until"
                )
            until = datetime.combine(self.until, time(23, 59, 59))
        try:
            starts = list(
                rrule(
                    WEEKLY,
                    interval=self.interval_weeks,
                    count=self.count,
                    until=until,
                    dtstart=first_local,
                )
            )
        except (OverflowError, ValueError) as error:  # a series running past the year 9999
            raise out_of_range() from error
        if len(starts) > MAX_SESSIONS_PER_SERIES:
            raise ServiceError(
                f"That would make {len(starts)} sessions; a series can have at most "
                f"{MAX_SESSIONS_PER_SERIES}.",
                code="count",
            )
        return starts
