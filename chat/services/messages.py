"""Messages in order: storing one at the room's next position, and hiding a person's messages
for oneself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.text import bounded
from chat.broadcast import broadcast_on_commit, room_group
from chat.checks import run_message_checks
from chat.models import MAX_BODY, HiddenAuthor, Message, Participant, Room, Round, RoundTurn
from chat.selectors import (
    REMOVED_MESSAGE,
    RoomAccess,
    RoomRefusal,
    message_event,
    room_access,
)
from chat.services.floor import round_turn_spoken, turn_holder_name
from config.redis import RedisUnreachable, redis_client, redis_key
from groups.models import GroupSession


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
        try:
            count = pipe.execute()[0]
        except RedisUnreachable:
            # Redis is away for a moment: let the message through rather than lose it (the
            # limit is a brake on floods, and the channel layer logs the outage once).
            return True
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
            state = _sender_state(participant.pk, client_uuid)
            if state.original is not None:
                raise _AlreadyStored(state.original)
            current = max(now, timezone.now())
            shut = _STILL_OPEN_REFUSALS.get(state.session.status_at(current))
            if shut is not None:
                raise ServiceError(shut[0], code=shut[1])
            _require_still_heard(muted_at=state.muted_at, removed_at=state.removed_at)
            _require_floor(state, participant=participant, session_id=session_id, now=current)
            message = Message.objects.create(
                session_id=session_id,
                position=position,
                author=participant,
                body=text,
                client_id=client_uuid,
                before_start=now < state.session.starts_at,
            )
            broadcast_on_commit(room_group(session_id), message_event(message))
            if state.turn_holder == participant.pk:  # one message is a turn
                round_turn_spoken(session_id=session_id, participant_id=participant.pk, now=now)
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
# the rest of message_post together; this text is built once, when the module loads. It also
# reads the floor (chat.services.floor): the room's pause, and whose turn it is in a running
# round (always one turn while a round runs: the two indexes of Round and RoundTurn).
_SENDER_STATE_SQL = f"""
    SELECT (SELECT {_column(Message, "id")} FROM {Message._meta.db_table}
             WHERE {_column(Message, "author")} = {_column(Participant, "id")}
               AND {_column(Message, "client_id")} = %s
             LIMIT 1),
           {_column(Participant, "muted_at")}, {_column(Participant, "removed_at")},
           {_column(GroupSession, "starts_at")}, {_column(GroupSession, "ends_at")},
           {_column(GroupSession, "room_opens_minutes")}, {_column(GroupSession, "closed_at")},
           {_column(GroupSession, "cancelled_at")},
           {_column(Room, "paused_at")}, {_column(Room, "pause_ends_at")},
           (SELECT {_column(RoundTurn, "participant")} FROM {RoundTurn._meta.db_table}
              JOIN {Round._meta.db_table} ON {_column(Round, "id")} = {_column(RoundTurn, "round")}
             WHERE {_column(Round, "session")} = {_column(Participant, "session")}
               AND {_column(Round, "ended_at")} IS NULL
               AND {_column(RoundTurn, "state")} = 'current'
             LIMIT 1)
      FROM {Participant._meta.db_table}
      JOIN {GroupSession._meta.db_table}
        ON {_column(GroupSession, "id")} = {_column(Participant, "session")}
      JOIN {Room._meta.db_table}
        ON {_column(Room, "session")} = {_column(Participant, "session")}
     WHERE {_column(Participant, "id")} = %s
"""  # noqa: S608 (names from the models, values bound)


class _SenderState(NamedTuple):
    original: int | None  # the message already stored under the client_id
    muted_at: datetime | None
    removed_at: datetime | None
    session: GroupSession  # its times only (enough for ``status_at``)
    paused_at: datetime | None
    pause_ends_at: datetime | None
    turn_holder: int | None  # the participant whose turn it is, while a round runs


def _sender_state(participant_id: int, client_id: uuid.UUID) -> _SenderState:
    """In one query: the message already stored under ``client_id``, the participant's mute
    and removal, their session's times, the room's pause and whose turn it is."""
    with connection.cursor() as cursor:
        cursor.execute(_SENDER_STATE_SQL, [client_id, participant_id])
        row = cursor.fetchone()
    if row is None:
        raise ServiceError("Please join the room first.", code="not_joined")
    original, muted_at, removed_at, starts_at, ends_at, opens, closed_at, cancelled_at = row[:8]
    session = GroupSession(
        starts_at=starts_at,
        ends_at=ends_at,
        room_opens_minutes=opens,
        closed_at=closed_at,
        cancelled_at=cancelled_at,
    )
    return _SenderState(original, muted_at, removed_at, session, *row[8:])


def _require_floor(
    state: _SenderState, *, participant: Participant, session_id: int, now: datetime
) -> None:
    """Refuse a member while the room is paused, or while a round gives the floor to someone
    else; facilitators may always speak. The words stay in the sender's box."""
    if participant.is_facilitator:
        return
    if state.paused_at is not None and (state.pause_ends_at is None or state.pause_ends_at > now):
        raise ServiceError(
            "The facilitator has paused new messages for a moment. "
            "Your message waits in the box; send it when the pause is over.",
            code="paused",
        )
    if state.turn_holder is not None and state.turn_holder != participant.pk:
        name = turn_holder_name(session_id=session_id)
        raise ServiceError(
            f"It is {name}'s turn; your message waits in the box.", code="not_your_turn"
        )


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
