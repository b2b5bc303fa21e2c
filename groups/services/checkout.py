"""Check-out: after a session each member may say how it was for them, once, and change it
while the session is recent; the group's facilitators read the answers (recorded)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.text import bounded
from groups import rights
from groups.checkout import (
    SessionCheckOuts,
    checkout_open_at,
    group_checkouts,
    is_active_member,
)
from groups.models import CHECKOUT_WORDS_MAX, CheckOut, GroupSession, TherapyGroup
from groups.services._common import _require_active, _require_right
from moderation.audit import AuditAction, audit_record


def checkout_answer(
    *, actor: User, session: GroupSession, feeling: object, words: object, now: datetime
) -> CheckOut:
    """Store ``actor``'s answer to the session's check-out, or change the one they gave.

    Only an active member of the group, from the session's close for a day
    (``CHECKOUT_WINDOW``); ``feeling`` 1 (very hard) to 5 (very good), ``words`` optional.
    """
    _require_active(actor)
    if not is_active_member(user=actor, group_id=session.group_id):
        raise ServiceError("Only the group's members can answer its check-out.", code="forbidden")
    if not checkout_open_at(session, now):
        if session.cancelled_at is not None:
            raise ServiceError("This session was cancelled.", code="cancelled")
        if now < session.closes_at:
            raise ServiceError("Check-out opens when the session ends.", code="too_early")
        raise ServiceError(
            "The check-out for this session has closed: answers can be given or changed for a "
            "day after it ends.",
            code="closed",
        )
    if (
        not isinstance(feeling, int)
        or isinstance(feeling, bool)
        or feeling not in CheckOut.Feeling.values
    ):
        raise ServiceError("Please choose how today was, from 1 to 5.", code="feeling")
    text = bounded(words, limit=CHECKOUT_WORDS_MAX, noun="A few words", multiline=True).strip()
    with transaction.atomic():
        answer, _ = CheckOut.objects.update_or_create(
            session=session, user=actor, defaults={"feeling": feeling, "words": text}
        )
    return answer


def checkouts_open(*, actor: User, group: TherapyGroup, now: datetime) -> list[SessionCheckOuts]:
    """The group's check-out answers by session for one of its facilitators; the reading is
    recorded (ids and a count, never words)."""
    _require_active(actor)
    _require_right(actor, group, rights.FACILITATE)
    with transaction.atomic():
        sessions = group_checkouts(group=group, now=now)
        audit_record(
            actor=actor,
            action=AuditAction.CHECKOUTS_READ,
            target=group,
            group_id=group.pk,
            details={"answers": sum(len(entry.answers) for entry in sessions)},
        )
    return sessions
