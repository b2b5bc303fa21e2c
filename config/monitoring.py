"""What ``/metrics`` shows and to whom: the figures read from the database (the same from
every process), this process's own metrics (config.metrics), and the access rule.

Nothing here reads a person's data: counts, ages and times only, labelled with fixed names.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import DurationField, ExpressionWrapper, F, Min, Q, Value
from django.http import HttpRequest

from accounts.models import JobRun
from chat.models import Message
from config.metrics import REGISTRY, family, sample
from groups.models import LONGEST_RUN, GroupSession, Reminder

# The window of "messages stored lately".
RECENT_MESSAGES = timedelta(minutes=5)
# The longest a room opens before its session starts (a check constraint on the session).
LONGEST_LEAD = timedelta(minutes=60)


def metrics_allowed(request: HttpRequest) -> bool:
    """Whether this request may read the metrics: it comes from an allowed network, or carries
    ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant time)."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        offered = header.removeprefix("Bearer ").strip()
        if hmac.compare_digest(offered.encode(), token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)


def rooms_open_count(*, now: datetime) -> int:
    """Sessions whose room is open now: opened (the lead time before the start has come), not
    ended, not closed early, not cancelled."""
    opens_at = ExpressionWrapper(
        F("starts_at")
        - F("room_opens_minutes") * Value(timedelta(minutes=1), output_field=DurationField()),
        output_field=DurationField(),
    )
    return (
        GroupSession.objects.upcoming(now)
        # Bounds the starts_at index scan to the sessions that could be open at all.
        .filter(starts_at__lte=now + LONGEST_LEAD)
        .alias(opens_at=opens_at)
        .filter(opens_at__lte=now)
        .count()
    )


def messages_recent_count(*, now: datetime) -> int:
    """Messages stored in the last five minutes. Only rooms open during that window can hold
    one, so the count walks those rooms' messages by the (session, position) index instead of
    every message ever stored."""
    since = now - RECENT_MESSAGES
    sessions = GroupSession.objects.filter(
        starts_at__gt=since - LONGEST_RUN, starts_at__lte=now + LONGEST_LEAD, ends_at__gt=since
    ).filter(Q(closed_at__isnull=True) | Q(closed_at__gt=since))
    return Message.objects.filter(session__in=sessions.values("pk"), created_at__gt=since).count()


def reminder_lag_seconds(*, now: datetime) -> float:
    """How long the oldest reminder that is due and neither sent nor skipped has waited: 0 when
    the sweep keeps up (it runs every minute, so up to a minute is normal)."""
    oldest = Reminder.objects.filter(
        sent_at__isnull=True, skipped_at__isnull=True, due_at__lte=now
    ).aggregate(oldest=Min("due_at"))["oldest"]
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def metrics_lines(*, now: datetime) -> Iterator[str]:
    """Every line of the exposition: the database's figures (four queries), then this
    process's metrics."""
    yield from family(
        "hearth_rooms_open",
        "gauge",
        "Sessions whose room is open now (from the database).",
        [sample("hearth_rooms_open", rooms_open_count(now=now))],
    )
    yield from family(
        "hearth_messages_recent",
        "gauge",
        "Messages stored in the last 5 minutes (from the database).",
        [sample("hearth_messages_recent", messages_recent_count(now=now))],
    )
    yield from family(
        "hearth_reminder_lag_seconds",
        "gauge",
        "Age of the oldest due reminder not yet sent or skipped; 0 when none waits.",
        [sample("hearth_reminder_lag_seconds", reminder_lag_seconds(now=now))],
    )
    runs = dict(JobRun.objects.values_list("name", "last_success_at"))
    # Every job runs on an interval (a timedelta); a crontab one would be left out here.
    intervals = {
        job: entry["schedule"]
        for job, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if isinstance(entry["schedule"], timedelta)
    }
    yield from family(
        "hearth_job_last_success_timestamp_seconds",
        "gauge",
        "When each periodic job last succeeded (Unix time); absent if it never has.",
        [
            sample(
                "hearth_job_last_success_timestamp_seconds",
                runs[job].timestamp(),
                {"job": job},
            )
            for job in intervals
            if job in runs
        ],
    )
    yield from family(
        "hearth_job_interval_seconds",
        "gauge",
        "How often each periodic job is scheduled to run.",
        [
            sample(
                "hearth_job_interval_seconds",
                interval.total_seconds(),
                {"job": job},
            )
            for job, interval in intervals.items()
        ],
    )
    yield from REGISTRY.render()
