"""Facilitators' private notes on a session and on the members in it.

Only the group's facilitators (the facilitate right) write and read them; every read is an
audit event, as every write is. Audit rows and logs carry ids, never a note's words.
"""

from __future__ import annotations

from django.db import transaction

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.text import bounded
from groups import rights
from groups.models import NOTE_MAX, Enrollment, GroupSession, SessionNote
from groups.selectors import session_notes
from groups.services._common import _require_active
from moderation.audit import AuditAction, audit_record


def _require_facilitator(actor: User, session: GroupSession) -> None:
    _require_active(actor)
    if not rights.has_right(user=actor, group=session.group, right=rights.FACILITATE):
        raise ServiceError("Only the group's facilitators can see its notes.", code="forbidden")


def _note_body(body: object) -> str:
    body = bounded(body, limit=NOTE_MAX, noun="Notes", multiline=True)
    if not body.strip():
        raise ServiceError("Please write something in the note.", code="empty")
    return body


def _details(subject_id: int | None) -> dict[str, int]:
    return {"subject": subject_id} if subject_id is not None else {}


def note_create(
    *, actor: User, session: GroupSession, body: str, subject: User | None = None
) -> SessionNote:
    """Write a note on ``session``, or on ``subject``, a member of its group, in it."""
    _require_facilitator(actor, session)
    body = _note_body(body)
    if subject is not None and not (
        Enrollment.objects.filter(group_id=session.group_id, user=subject)
        .exclude(state=Enrollment.State.WAITLISTED)
        .exists()
    ):
        raise ServiceError("That person is not a member of this group.", code="not_a_member")
    with transaction.atomic():
        note = SessionNote.objects.create(session=session, subject=subject, author=actor, body=body)
        audit_record(
            actor=actor,
            action=AuditAction.NOTE_CREATED,
            target=note,
            group_id=session.group_id,
            session_id=session.pk,
            details=_details(note.subject_id),
        )
    return note


def note_update(*, actor: User, note: SessionNote, body: str) -> SessionNote:
    """Change a note; only its author may, while they still facilitate the group."""
    _require_facilitator(actor, note.session)
    body = _note_body(body)
    with transaction.atomic():
        locked = SessionNote.objects.select_for_update().get(pk=note.pk)
        if locked.author_id != actor.pk:
            raise ServiceError(
                "Only the facilitator who wrote a note can change it.", code="not_author"
            )
        locked.body = body
        locked.save(update_fields=["body", "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.NOTE_UPDATED,
            target=locked,
            group_id=note.session.group_id,
            session_id=locked.session_id,
            details=_details(locked.subject_id),
        )
    return locked


def notes_open(
    *, actor: User, session: GroupSession, subject: User | None = None
) -> list[SessionNote]:
    """The notes on ``session`` (with ``subject``: only those on that member) for one of the
    group's facilitators to read; the reading is recorded."""
    _require_facilitator(actor, session)
    with transaction.atomic():
        notes = session_notes(session=session, subject=subject)
        audit_record(
            actor=actor,
            action=AuditAction.NOTES_READ,
            target=subject if subject is not None else session,
            group_id=session.group_id,
            session_id=session.pk,
            details={"notes": len(notes)} | _details(subject.pk if subject else None),
        )
    return notes
