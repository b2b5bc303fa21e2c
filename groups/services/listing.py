"""What the directory reads off the group row: the group's next session and its places taken.

The services that change a group's sessions or places store these again before they commit,
with the group's row locked, so that the stored values are exactly as right as the rows they
come from. The clock alone makes the next session stale, when it closes (its end, or earlier
if the facilitator ended it); ``next_sessions_advance``, a beat sweep, moves such rows on, and
until it has, the directory works the next session out itself for them (see
``groups.selectors.directory``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.page_cache import pages_changed
from groups.models import Enrollment, GroupSession, TherapyGroup

NEXT_SESSION_BATCH = 500


def _next_sessions(group_ids: Collection[int], now: datetime) -> dict[int, GroupSession]:
    """Each group's next session at ``now`` (the first by start still to come or under way)."""
    return {
        session.group_id: session
        for session in GroupSession.objects.upcoming(now)
        .filter(group_id__in=group_ids)
        .order_by("group_id", "starts_at", "pk")
        .distinct("group_id")
        .only("group_id", "starts_at", "ends_at", "closed_at")
    }


def _set_next_session(group: TherapyGroup, session: GroupSession | None) -> bool:
    """Put ``session`` on ``group`` as its next one; returns whether anything changed."""
    starts, closes = (session.starts_at, session.closes_at) if session else (None, None)
    if (group.next_session_starts_at, group.next_session_closes_at) == (starts, closes):
        return False
    group.next_session_starts_at, group.next_session_closes_at = starts, closes
    return True


def store_next_session(group: TherapyGroup, *, now: datetime) -> None:
    """Store ``group``'s next session again, after a change to its sessions.

    Call with the group's row locked (``group`` as loaded under the lock), in the transaction
    that made the change.
    """
    if _set_next_session(group, _next_sessions([group.pk], now).get(group.pk)):
        group.save(update_fields=["next_session_starts_at", "next_session_closes_at"])


def store_seats_taken(group: TherapyGroup) -> None:
    """Store how many places of ``group`` are taken, after a change to its enrollments.

    Call with the group's row locked (``group`` as loaded under the lock), in the transaction
    that made the change.
    """
    taken = group.enrollments.filter(state=Enrollment.State.ACTIVE).count()
    if group.seats_taken != taken:
        group.seats_taken = taken
        group.save(update_fields=["seats_taken"])


def next_sessions_advance(*, now: datetime | None = None) -> int:
    """Move on every group whose stored next session has closed; returns how many moved.

    Each batch is claimed with ``FOR UPDATE SKIP LOCKED``, so two sweeps never write the same
    row and a row a service holds is left to that service (it stores the next session itself;
    a row still stale after it is taken next time). The next sessions are read after the claim,
    so they include every change committed before it. Safe to run twice: a row moved on no
    longer matches, since a next session always closes after ``now``.
    """
    now = now or timezone.now()
    moved = 0
    while True:
        with transaction.atomic():
            claimed = list(
                TherapyGroup.objects.select_for_update(skip_locked=True)
                .filter(next_session_closes_at__lte=now)
                .order_by("pk")
                .only("next_session_starts_at", "next_session_closes_at")[:NEXT_SESSION_BATCH]
            )
            nexts = _next_sessions([group.pk for group in claimed], now)
            for group in claimed:
                _set_next_session(group, nexts.get(group.pk))
            TherapyGroup.objects.bulk_update(
                claimed, ["next_session_starts_at", "next_session_closes_at"]
            )
            if claimed:
                pages_changed()  # bulk_update sends no post_save
        moved += len(claimed)
        if len(claimed) < NEXT_SESSION_BATCH:
            return moved
