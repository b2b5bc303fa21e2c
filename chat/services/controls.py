"""The facilitator's controls: mute, remove, lock, hide, pin, end and extend.

Every one is refused to anyone who does not facilitate the group, audited in its transaction,
and broadcast to the room after commit.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.text import bounded
from chat.broadcast import broadcast_on_commit, room_group
from chat.models import MAX_NOTICE, Message, Participant, Room
from chat.services.access import facilitated_session as _facilitated_session
from chat.services.floor import floor_close, floor_forget
from groups.models import GroupSession
from groups.services import session_end, session_extend
from moderation.audit import AuditAction, audit_record


def _room_participant(session: GroupSession, participant_id: object) -> Participant:
    participant = (
        Participant.objects.filter(session=session, pk=int(str(participant_id))).first()
        if str(participant_id).isdigit()
        else None
    )
    if participant is None:
        raise ServiceError("There is nobody like that in this room.", code="no_such_person")
    if participant.is_facilitator:
        raise ServiceError("Facilitators cannot be muted or removed.", code="facilitator")
    return participant


def participant_set_muted(
    *, actor: User, session_id: int, participant_id: object, muted: bool
) -> Participant:
    """Mute a member for the rest of the session (they can still read), or unmute them."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        participant = _room_participant(session, participant_id)
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        if (participant.muted_at is not None) == muted:
            return participant
        participant.muted_at = timezone.now() if muted else None
        participant.save(update_fields=["muted_at"])
        audit_record(
            actor=actor,
            action=AuditAction.ROOM_MEMBER_MUTED if muted else AuditAction.ROOM_MEMBER_UNMUTED,
            target=participant.user,
            group_id=session.group_id,
            session_id=session.pk,
        )
        broadcast_on_commit(
            room_group(session.pk),
            {"type": "participant.muted", "participant": participant.pk, "muted": muted},
        )
    return participant


def participant_remove(*, actor: User, session_id: int, participant_id: object) -> Participant:
    """Remove a member from this session's room: their sockets close and they cannot return."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        participant = _room_participant(session, participant_id)
        Room.objects.get_or_create(session=session)
        Room.objects.select_for_update().get(session=session)  # the floor changes under it
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        if participant.removed_at is not None:
            return participant
        participant.removed_at = timezone.now()
        participant.save(update_fields=["removed_at"])
        floor_forget(session_id=session.pk, participant_id=participant.pk)
        audit_record(
            actor=actor,
            action=AuditAction.ROOM_MEMBER_REMOVED,
            target=participant.user,
            group_id=session.group_id,
            session_id=session.pk,
        )
        broadcast_on_commit(
            room_group(session.pk), {"type": "participant.removed", "participant": participant.pk}
        )
    return participant


def room_set_locked(*, actor: User, session_id: int, locked: bool) -> Room:
    """Lock the room to new arrivals (those already in may stay and reconnect), or unlock it."""
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        room, _ = Room.objects.get_or_create(session=session)
        room = Room.objects.select_for_update().get(pk=room.pk)
        if (room.locked_at is not None) == locked:
            return room
        room.locked_at = timezone.now() if locked else None
        room.save(update_fields=["locked_at"])
        audit_record(
            actor=actor,
            action=AuditAction.ROOM_LOCKED if locked else AuditAction.ROOM_UNLOCKED,
            target=session,
            group_id=session.group_id,
            session_id=session.pk,
        )
        broadcast_on_commit(room_group(session.pk), {"type": "room.locked", "locked": locked})
    return room


def message_hide(
    *, actor: User, session_id: int, position: object, report_id: int | None = None
) -> Message:
    """Hide a message for everyone: they see "removed by the facilitator" in its place.

    ``report_id``: hide it as the decision on that moderation report. moderation has checked
    that ``actor`` may review the report (staff may, without rights on the group), so the
    facilitator right is not asked again; the audit row names the report.
    """
    if report_id is None:
        session = _facilitated_session(actor, session_id)
    else:
        session = GroupSession.objects.select_related("group").get(pk=session_id)
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(session=session, position=int(str(position)))
            .first()
            if str(position).isdigit()
            else None
        )
        if message is None:
            raise ServiceError("That message is not in this room.", code="no_such_message")
        if message.hidden_at is None:
            message.hidden_at = timezone.now()
            message.save(update_fields=["hidden_at"])
            audit_record(
                actor=actor,
                action=AuditAction.ROOM_MESSAGE_HIDDEN,
                target=message,
                group_id=session.group_id,
                session_id=session.pk,
                details={"position": message.position}
                | ({} if report_id is None else {"report": report_id}),
            )
            broadcast_on_commit(
                room_group(session.pk), {"type": "message.hidden", "position": message.position}
            )
    return message


def room_pin(*, actor: User, session_id: int, text: object) -> Room:
    """Pin a short notice (such as the group agreement) above the conversation; empty unpins."""
    session = _facilitated_session(actor, session_id)
    notice = bounded(
        text, limit=MAX_NOTICE, noun="Notices", multiline=True, invalid_code="too_long"
    )
    with transaction.atomic():
        room, _ = Room.objects.get_or_create(session=session)
        room = Room.objects.select_for_update().get(pk=room.pk)
        room.pinned_notice = notice
        room.save(update_fields=["pinned_notice"])
        audit_record(
            actor=actor,
            action=AuditAction.ROOM_NOTICE_PINNED,
            target=session,
            group_id=session.group_id,
            session_id=session.pk,
        )
        broadcast_on_commit(
            room_group(session.pk), {"type": "room.pinned", "text": room.pinned_notice}
        )
    return room


def room_end(*, actor: User, session_id: int) -> GroupSession:
    """End the session now: every socket is told ``room.closed`` and closed.

    Holds the room row's lock while ending, as ``message_post`` does while storing, so a message
    either committed before the end or is refused.
    """
    session = _facilitated_session(actor, session_id)
    with transaction.atomic():
        Room.objects.get_or_create(session=session)
        Room.objects.select_for_update().get(session=session)
        session = session_end(actor=actor, session=session)
        floor_close(session.pk, timezone.now())
        broadcast_on_commit(room_group(session.pk), {"type": "room.closed", "reason": "ended"})
    return session


def room_extend(*, actor: User, session_id: int, minutes: object) -> GroupSession:
    """Extend the session once, by up to 15 minutes; every socket learns the new end."""
    session = _facilitated_session(actor, session_id)
    if not isinstance(minutes, int) or isinstance(minutes, bool):
        raise ServiceError("Say how many minutes, from 1 to 15.", code="extension_range")
    with transaction.atomic():
        session = session_extend(actor=actor, session=session, minutes=minutes)
        broadcast_on_commit(
            room_group(session.pk),
            {"type": "room.extended", "ends_at": session.ends_at.isoformat()},
        )
    return session
