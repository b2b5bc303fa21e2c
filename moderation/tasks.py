"""Periodic moderation housekeeping (scheduled in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from accounts.jobs import periodic
from moderation.retention import checkouts_purge, notes_purge, transcripts_purge
from moderation.services import sanctions_expire


@shared_task(name="moderation.tasks.purge_transcripts")
@periodic("moderation.purge_transcripts")
def purge_transcripts() -> int:
    """Expired message bodies, facilitators' notes and check-out answers (one retention
    rule)."""
    return transcripts_purge() + notes_purge() + checkouts_purge()


@shared_task(name="moderation.tasks.expire_sanctions")
@periodic("moderation.expire_sanctions")
def expire_sanctions() -> int:
    return sanctions_expire()
