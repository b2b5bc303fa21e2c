"""Writes for rooms: joining, messages in order, and the facilitator's controls.

Persist first, broadcast after commit. Every facilitator action is audited in its transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.policy import logins_check
from accounts.sessions import logins_current, logins_renew
from accounts.text import bounded
from chat.broadcast import broadcast_on_commit, login_group, person_group, room_group
from chat.checks import run_message_checks
from chat.models import MAX_BODY, MAX_NOTICE, Attendance, HiddenAuthor, Message, Participant, Room
from chat.selectors import (
    PRESENCE_TIMEOUT,
    REMOVED_MESSAGE,
    RoomAccess,
    RoomRefusal,
    message_event,
    room_access,
    room_access_many,
)
from config.redis import redis_client, redis_key
from groups import rights
from groups.models import GroupSession
from groups.services import session_end, session_extend
from moderation.audit import AuditAction, audit_record

# --- Being in the room ------------------------------------------------------------------------


def room_join(*, access: RoomAccess, channel_name: str, now: datetime) -> Participant:
    """Record that ``access.user`` opened a connection to the room (attendance starts)."""
    with transaction.atomic():
        Room.objects.get_or_create(session=access.session)
        participant, created = Participant.objects.get_or_create(
            session=access.session,
            user=access.user,
            defaults={"name": access.name, "is_facilitator": access.role == "facilitator"},
        )
        if not created and participant.name != access.name:
            participant.name = access.name
            participant.save(update_fields=["name"])
        Attendance.objects.create(
            session=access.session,
            participant=participant,
            channel_name=channel_name,
            joined_at=now,
            last_seen_at=now,
        )
    return participant


def room_leave(*, channel_name: str, now: datetime) -> None:
    """Close this connection's attendance row (leaving twice changes nothing)."""
    Attendance.objects.filter(channel_name=channel_name, left_at__isnull=True).update(left_at=now)


@dataclass(frozen=True)
class Socket:
    """One open connection to a room, as the re-check needs to know it."""

    channel_name: str
    user_id: int
    login_key: str  # the session key of the login that opened it ("" if none)


def room_recheck(
    *, session_id: int, sockets: list[Socket], now: datetime
) -> dict[str, RoomAccess | RoomRefusal]:
    """May each of these sockets of one room be here? By channel name: the renewed decision,
    or why not: the login policy's refusal (``accounts.policy``: logged out, expired, suspended,
    two-step login missing), else ``room_access``'s. The handshake asks this too.

    A socket that may stay is seen now (attendance, so presence keeps it), and its login's idle
    expiry is renewed. A few queries for all of them, whether one socket asks (a pushed
    re-check) or every socket of the room in a process (the periodic one).
    """
    users = User.objects.in_bulk({socket.user_id for socket in sockets if socket.user_id})
    logins = logins_current([socket.login_key for socket in sockets], now=now)
    policy = logins_check(
        {s.channel_name: (users.get(s.user_id), logins.get(s.login_key)) for s in sockets},
        now=now,
    )
    verdicts: dict[str, RoomAccess | RoomRefusal] = {}
    asking: list[Socket] = []
    for socket in sockets:
        if (refusal := policy[socket.channel_name]) is not None:
            verdicts[socket.channel_name] = RoomRefusal(refusal.code, refusal.message)
        else:
            asking.append(socket)
    decided = room_access_many(
        users=list({users[socket.user_id] for socket in asking}), session_id=session_id, now=now
    )
    for socket in asking:
        verdicts[socket.channel_name] = decided[socket.user_id]
    staying = [s for s in asking if isinstance(verdicts[s.channel_name], RoomAccess)]
    if staying:
        Attendance.objects.filter(
            channel_name__in=[socket.channel_name for socket in staying], left_at__isnull=True
        ).update(last_seen_at=now)
        logins_renew([socket.login_key for socket in staying], now=now)
    return verdicts


# --- Messages ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posted:
    message: Message
    created: bool
    notices: list[dict[str, object]] = field(default_factory=list)


def clean_body(body: object) -> str:
    """A message as it is stored: without hidden controls, within MAX_BODY, not empty."""
    if not isinstance(body, str):
        raise ServiceError("A message is plain text.", code="invalid_body")
    text = bounded(
        body, limit=MAX_BODY, noun="Messages", multiline=True, invalid_code="invalid_body"
    )
    if not text:
        raise ServiceError("Your message is empty.", code="invalid_body")
    return text


def _within_rate_limit(*, session_id: int, user_id: int, now: datetime) -> bool:
    """A burst of CHAT_RATE_LIMIT_BURST messages per window, per person and room.

    Counted in Redis (the in-process cache without it), so it holds across server processes.
    """
    seconds = settings.CHAT_RATE_LIMIT_WINDOW_SECONDS
    key = f"chat:rate:{session_id}:{user_id}:{int(now.timestamp()) // seconds}"
    if client := redis_client():  # one round trip
        pipe = client.pipeline(transaction=False)
        pipe.incr(redis_key(key))
        pipe.expire(redis_key(key), seconds * 2)
        count = pipe.execute()[0]
    else:
        cache.add(key, 0, timeout=seconds * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=seconds * 2)
            count = 1
    return count <= settings.CHAT_RATE_LIMIT_BURST


def message_post(
    *,
    actor: User,
    session_id: int,
    body: object,
    client_id: object,
    now: datetime | None = None,
    access: RoomAccess | None = None,
) -> Posted:
    """Store a message at the next position of the room, then broadcast it after commit.

    Sending again with the same ``client_id`` stores nothing and returns the original, so a
    client may resend freely after a reconnect. Whether the room is still open, and whether
    the sender is still muted or removed, is decided again under the room row's lock, which
    ``room_end`` takes too: once the end has committed, no message is stored.

    ``access`` is the socket's own ``room_access`` decision, which it renews whenever anything
    about the person changes (``person.recheck``) and at least once a minute; without it the
    decision is made here (five queries, most of the cost of a message).
    """
    now = now or timezone.now()
    try:
        client_uuid = uuid.UUID(str(client_id))
    except ValueError as error:
        raise ServiceError(
            "Each message needs a client_id (a UUID).", code="invalid_client_id"
        ) from error
    if access is None:
        try:
            access = room_access(user=actor, session_id=session_id, now=now)
        except RoomRefusal as refusal:
            raise ServiceError(refusal.message, code=refusal.code) from refusal
    participant = access.participant
    if participant is None:
        raise ServiceError("Please join the room first.", code="not_joined")
    # A resend of a stored message gets the original back, whatever would refuse it now; the
    # checks made before the transaction look for it only when they refuse (a resend is rare,
    # and a query per message is not).
    try:
        if access.group_muted_until is not None and access.group_muted_until > now:
            until = timezone.localtime(access.group_muted_until)
            raise ServiceError(
                f"You are muted in this group until {until:%-d %B, %H:%M}. "
                "You can still read along.",
                code="muted",
            )
        text = clean_body(body)
        if not _within_rate_limit(session_id=session_id, user_id=actor.pk, now=now):
            raise ServiceError(
                "You are sending messages very quickly. Please wait a few seconds and try again.",
                code="rate_limited",
            )
    except ServiceError:
        if (original := _original(participant.pk, client_uuid)) is not None:
            return Posted(message=original, created=False)
        raise
    try:
        with transaction.atomic():
            # Three statements: the next position (which takes the room row's lock, as
            # room_end does), then, read after the lock so that an end or a mute committed
            # meanwhile is seen, this client_id's original and whether the room still hears
            # this person, then the message.
            position = _next_position(session_id)
            existing_pk, muted_at, removed_at, session = _sender_state(participant.pk, client_uuid)
            if existing_pk is not None:
                raise _AlreadyStored(existing_pk)
            shut = _STILL_OPEN_REFUSALS.get(session.status_at(max(now, timezone.now())))
            if shut is not None:
                raise ServiceError(shut[0], code=shut[1])
            _require_still_heard(muted_at=muted_at, removed_at=removed_at)
            message = Message.objects.create(
                session_id=session_id,
                position=position,
                author=participant,
                body=text,
                client_id=client_uuid,
                before_start=now < session.starts_at,
            )
            broadcast_on_commit(room_group(session_id), message_event(message))
            notices = run_message_checks(message, access)
    except _AlreadyStored as already:
        return Posted(message=Message.objects.get(pk=already.pk), created=False)
    except IntegrityError:
        # The same client_id raced in from another connection: that one won.
        if (original := _original(participant.pk, client_uuid)) is None:
            raise
        return Posted(message=original, created=False)
    return Posted(message=message, created=True, notices=notices)


class _AlreadyStored(Exception):
    """This client_id's message is stored already (rolls the new position back)."""

    def __init__(self, pk: int) -> None:
        self.pk = pk


def _original(participant_id: int, client_id: uuid.UUID) -> Message | None:
    return Message.objects.filter(author_id=participant_id, client_id=client_id).first()


def _next_position(session_id: int) -> int:
    """Allocate the room's next position: one UPDATE, which holds the room row's lock until the
    transaction ends (the ORM would need a SELECT … FOR UPDATE and an UPDATE)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Room._meta.db_table} SET last_position = last_position + 1 "  # noqa: S608
            "WHERE session_id = %s RETURNING last_position",
            [session_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise ServiceError("Please join the room first.", code="not_joined")
    return int(row[0])


def _column(model: type, field: str) -> str:
    return f"{model._meta.db_table}.{model._meta.get_field(field).column}"  # type: ignore[attr-defined]


# The sender's state in one statement, written out rather than built by the ORM: compiling the
# queryset (a join and a correlated subquery) cost 2.7 ms of CPU a message under load, more than
# the rest of message_post together; this text is built once, when the module loads.
_SENDER_STATE_SQL = f"""
    SELECT (SELECT {_column(Message, "id")} FROM {Message._meta.db_table}
             WHERE {_column(Message, "author")} = {_column(Participant, "id")}
               AND {_column(Message, "client_id")} = %s
             LIMIT 1),
           {_column(Participant, "muted_at")}, {_column(Participant, "removed_at")},
           {_column(GroupSession, "starts_at")}, {_column(GroupSession, "ends_at")},
           {_column(GroupSession, "room_opens_minutes")}, {_column(GroupSession, "closed_at")},
           {_column(GroupSession, "cancelled_at")}
      FROM {Participant._meta.db_table}
      JOIN {GroupSession._meta.db_table}
        ON {_column(GroupSession, "id")} = {_column(Participant, "session")}
     WHERE {_column(Participant, "id")} = %s
"""  # noqa: S608 (names from the models, values bound)


def _sender_state(
    participant_id: int, client_id: uuid.UUID
) -> tuple[int | None, datetime | None, datetime | None, GroupSession]:
    """In one query: the message already stored under ``client_id`` (its id, or None), the
    participant's mute and removal, and their session's times (enough for ``status_at``)."""
    with connection.cursor() as cursor:
        cursor.execute(_SENDER_STATE_SQL, [client_id, participant_id])
        row = cursor.fetchone()
    if row is None:
        raise ServiceError("Please join the room first.", code="not_joined")
    original, muted_at, removed_at, starts_at, ends_at, opens, closed_at, cancelled_at = row
    session = GroupSession(
        starts_at=starts_at,
        ends_at=ends_at,
        room_opens_minutes=opens,
        closed_at=closed_at,
        cancelled_at=cancelled_at,
    )
    return original, muted_at, removed_at, session


def _require_still_heard(*, muted_at: datetime | None, removed_at: datetime | None) -> None:
    """Refuse a participant the facilitator has removed or muted, as committed."""
    if removed_at is not None:
        raise ServiceError(REMOVED_MESSAGE, code="removed")
    if muted_at is not None:
        raise ServiceError(
            "The facilitator has muted you for the rest of this session. You can still read along.",
            code="muted",
        )


_STILL_OPEN_REFUSALS = {
    GroupSession.Status.CLOSED: ("This session has ended.", "closed"),
    GroupSession.Status.CANCELLED: ("This session was cancelled.", "cancelled"),
    GroupSession.Status.UPCOMING: ("The room is not open yet.", "too_early"),
}


# --- "Mute for me" -------------------------------------------------------------------------------


def author_hide_for_me(
    *, actor: User, session_id: int, participant_id: object, hidden: object
) -> None:
    """Stop (or start again) seeing one person's messages, for ``actor`` only."""
    if not isinstance(hidden, bool):
        raise ServiceError("Say whether to hide (true) or show (false).", code="bad_request")
    try:
        access = room_access(user=actor, session_id=session_id, now=timezone.now())
    except RoomRefusal as refusal:
        raise ServiceError(refusal.message, code=refusal.code) from refusal
    other = (
        Participant.objects.filter(pk=participant_id, session_id=session_id).first()
        if isinstance(participant_id, int)
        else None
    )
    if other is None or other.user_id == actor.pk:
        raise ServiceError("There is nobody like that in this room.", code="no_such_person")
    if other.is_facilitator:
        raise ServiceError("You cannot hide the facilitator's messages.", code="facilitator")
    if hidden:
        HiddenAuthor.objects.get_or_create(
            group_id=access.session.group_id, owner=actor, hidden_user_id=other.user_id
        )
    else:
        HiddenAuthor.objects.filter(
            group_id=access.session.group_id, owner=actor, hidden_user_id=other.user_id
        ).delete()


# --- Facilitator controls ------------------------------------------------------------------------


def _facilitated_session(actor: User, session_id: int) -> GroupSession:
    """The session, if ``actor`` facilitates its group; refuses everyone else alike."""
    session = GroupSession.objects.select_related("group").filter(pk=session_id).first()
    if session is None or not rights.has_right(
        user=actor, group=session.group, right=rights.FACILITATE
    ):
        raise ServiceError("Only the group's facilitators can do this.", code="forbidden")
    return session


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
        participant = Participant.objects.select_for_update().get(pk=participant.pk)
        if participant.removed_at is not None:
            return participant
        participant.removed_at = timezone.now()
        participant.save(update_fields=["removed_at"])
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


def person_recheck_sockets(*, user_id: int) -> None:
    """Tell the person's open sockets to re-check their right to be in their rooms now (after
    commit): call when something about them that ``room_access`` reads has changed."""
    broadcast_on_commit(person_group(user_id), {"type": "person.recheck"})


def login_revoke_sockets(*, session_key: str, reason: str) -> None:
    """Close the sockets opened under one login (the other devices stay connected)."""
    broadcast_on_commit(login_group(session_key), {"type": "person.revoked", "reason": reason})


# --- The clock, kept by workers ------------------------------------------------------------------


def sessions_close_due(*, now: datetime | None = None) -> int:
    """Close every room whose session has ended: one close, one audit event and one
    ``room.closed`` per session, however many workers run this at once.

    Sockets close themselves at the end anyway; this records the close, finishes attendance and
    reaches sockets whose own timer was lost. A connection still open was there until the end,
    unless it has not been seen for longer than the presence window (its process died): that one
    left when it was last seen.
    """
    now = now or timezone.now()
    due = GroupSession.objects.filter(
        closed_at__isnull=True, cancelled_at__isnull=True, ends_at__lte=now
    ).values_list("pk", "ends_at")
    closed = 0
    for session_id, ends_at in list(due):
        with transaction.atomic():
            claimed = GroupSession.objects.filter(pk=session_id, closed_at__isnull=True).update(
                closed_at=ends_at
            )
            if not claimed:
                continue  # another worker closed it
            still_open = Attendance.objects.filter(session_id=session_id, left_at__isnull=True)
            still_open.filter(last_seen_at__lt=now - PRESENCE_TIMEOUT).update(
                left_at=Least(F("last_seen_at"), Value(ends_at))
            )
            still_open.update(left_at=ends_at)
            session = GroupSession.objects.get(pk=session_id)
            audit_record(
                actor=None,
                action=AuditAction.SESSION_CLOSED,
                target=session,
                group_id=session.group_id,
                session_id=session_id,
            )
            broadcast_on_commit(room_group(session_id), {"type": "room.closed", "reason": "ended"})
            closed += 1
    return closed
