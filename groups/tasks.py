"""Periodic group jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from accounts.jobs import periodic
from groups.reminders import reminders_send_due, rooms_announce_opening
from groups.services import next_sessions_advance


@shared_task(
    name="groups.tasks.send_due_reminders",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=600,
    soft_time_limit=540,
)
@periodic("groups.send_due_reminders")
def send_due_reminders() -> int:
    """Idempotent (each reminder is claimed in the database), so it may be redelivered."""
    return reminders_send_due().sent


@shared_task(name="groups.tasks.announce_opening_rooms", acks_late=True, reject_on_worker_lost=True)
@periodic("groups.announce_opening_rooms")
def announce_opening_rooms() -> int:
    """Idempotent (each session is claimed once), so it may be redelivered."""
    return rooms_announce_opening()


@shared_task(name="groups.tasks.advance_next_sessions", acks_late=True, reject_on_worker_lost=True)
@periodic("groups.advance_next_sessions")
def advance_next_sessions() -> int:
    """Idempotent (each group is claimed under a row lock, and moved on once), so it may be
    redelivered."""
    return next_sessions_advance()
