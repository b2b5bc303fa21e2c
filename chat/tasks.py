"""Periodic room jobs (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from accounts.jobs import periodic
from chat.services import sessions_close_due


@shared_task(name="chat.tasks.close_ended_sessions", acks_late=True, reject_on_worker_lost=True)
@periodic("chat.close_ended_sessions")
def close_ended_sessions() -> int:
    """Idempotent (a conditional update claims each close), so it may be redelivered."""
    return sessions_close_due()
