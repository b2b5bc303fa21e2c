"""Reads for rooms: who may be in a room now, what they see, and who is present."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from accounts.models import User
from chat.models import Attendance, HiddenAuthor, Message, Participant, Room
from groups import rights
from groups.models import Enrollment, GroupSession

# A connection not seen for this long is treated as gone (its process may have died).
# A connection counts as present while seen within this window; sockets refresh their row at
# every re-check (chat.relay.RECHECK_SECONDS, 60 s give or take a quarter), so one can be
# missed before it drops.
PRESENCE_TIMEOUT = timedelta(seconds=150)
HISTORY_PAGE = 200
REMOVED_MESSAGE = "The facilitator has asked you to leave this session."


class RoomRefusal(Exception):
    """Why a person may not be in a room now. ``code`` is part of the protocol."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class RoomAccess:
    session: GroupSession
    user: User
    role: str  # "member" or "facilitator"
    name: str
    participant: Participant | None
    group_muted_until: datetime | None = None


def room_access(*, user: User, session_id: int, now: datetime) -> RoomAccess:
    """Decide whether ``user`` may be in session ``session_id``'s room at ``now``.

    Active members of the group and its facilitators (anyone holding the facilitate right on
    it, which staff get only explicitly) may enter from the room's opening until it closes;
    nobody else, ever. Raises ``RoomRefusal``.
    """
    if not user.is_authenticated or not user.is_active:
        raise RoomRefusal("not_allowed", "Please log in.")
    verdict = room_access_many(users=[user], session_id=session_id, now=now)[user.pk]
    if isinstance(verdict, RoomRefusal):
        raise verdict
    return verdict


def room_access_many(
    *, users: list[User], session_id: int, now: datetime
) -> dict[int, RoomAccess | RoomRefusal]:
    """``room_access`` for several people at once, by user id: the decision or the refusal.

    The same rules in the same order, in the same few queries whether for one person or for
    every socket of a room (the periodic re-check asks for them all together).
    """
    verdicts: dict[int, RoomAccess | RoomRefusal] = {}
    active = [user for user in users if user.is_authenticated and user.is_active]
    for user in users:
        if not (user.is_authenticated and user.is_active):
            verdicts[user.pk] = RoomRefusal("not_allowed", "Please log in.")
    if not active:
        return verdicts
    session = GroupSession.objects.select_related("group").filter(pk=session_id).first()
    if session is None:
        for user in active:
            verdicts[user.pk] = RoomRefusal("not_allowed", "This room does not exist.")
        return verdicts
    facilitators = rights.holders(group=session.group, right=rights.FACILITATE, users=active)
    others = [user for user in active if user.pk not in facilitators]
    enrollments = (
        {
            enrollment.user_id: enrollment
            for enrollment in Enrollment.objects.filter(
                group=session.group, user__in=others, state=Enrollment.State.ACTIVE
            )
        }
        if others
        else {}
    )
    status = session.status_at(now)
    shut = {
        GroupSession.Status.CANCELLED: ("cancelled", "This session was cancelled."),
        GroupSession.Status.UPCOMING: ("too_early", "The room is not open yet."),
        GroupSession.Status.CLOSED: ("closed", "This session has ended."),
    }.get(status)
    admitted: list[tuple[User, str, str, datetime | None]] = []
    for user in active:
        if user.pk in facilitators:
            role, name, muted_until = "facilitator", user.display_name, None
        elif (enrollment := enrollments.get(user.pk)) is not None:
            role, name, muted_until = "member", enrollment.pseudonym, enrollment.muted_until
        else:
            verdicts[user.pk] = RoomRefusal(
                "not_allowed", "This room is only for the group's members."
            )
            continue
        if user.is_suspended:
            verdicts[user.pk] = RoomRefusal("suspended", "Your account is suspended.")
        elif shut is not None:
            verdicts[user.pk] = RoomRefusal(*shut)
        else:
            admitted.append((user, role, name, muted_until))
    if not admitted:
        return verdicts
    participants = {
        participant.user_id: participant
        for participant in Participant.objects.filter(
            session=session, user__in=[user for user, *_ in admitted]
        )
    }
    locked: bool | None = None  # read only if someone new wants in
    for user, role, name, muted_until in admitted:
        participant = participants.get(user.pk)
        if participant is not None and participant.removed_at is not None:
            verdicts[user.pk] = RoomRefusal("removed", REMOVED_MESSAGE)
            continue
        if role == "member" and participant is None:
            if locked is None:
                room = Room.objects.filter(session=session).only("locked_at").first()
                locked = room is not None and room.locked_at is not None
            if locked:
                verdicts[user.pk] = RoomRefusal(
                    "locked", "The facilitator has closed the room to new arrivals."
                )
                continue
        verdicts[user.pk] = RoomAccess(
            session=session,
            user=user,
            role=role,
            name=name,
            participant=participant,
            group_muted_until=muted_until,
        )
    return verdicts


def message_event(message: Message) -> dict[str, Any]:
    """The ``message`` event as clients receive it (live or from history)."""
    hidden = message.hidden_at is not None
    author = message.author
    return {
        "type": "message",
        "position": message.position,
        "author": author.pk if author else None,
        "name": author.name if author else "Hearth",
        "facilitator": bool(author and author.is_facilitator),
        "body": "" if hidden else message.body,
        "hidden": hidden,
        "before_start": message.before_start,
        "created_at": message.created_at.isoformat(),
    }


def messages_after(*, session_id: int, position: int, limit: int = HISTORY_PAGE) -> list[Message]:
    """Messages after ``position``, in order (at most ``limit``)."""
    return list(
        Message.objects.filter(session_id=session_id, position__gt=position)
        .select_related("author")
        .order_by("position")[:limit]
    )


def room_last_position(*, session_id: int) -> int:
    """The position of the room's last message (0 before the first)."""
    last = Room.objects.filter(session_id=session_id).values_list("last_position", flat=True)
    return next(iter(last), 0)


def latest_messages(*, session_id: int, limit: int = HISTORY_PAGE) -> list[Message]:
    """The last ``limit`` messages, oldest first (what the room page shows before the socket)."""
    newest = list(
        Message.objects.filter(session_id=session_id)
        .select_related("author")
        .order_by("-position")[:limit]
    )
    return newest[::-1]


def hidden_positions(*, session_id: int) -> list[int]:
    """Positions of messages a facilitator hid (so a reconnecting client can catch up)."""
    return list(
        Message.objects.filter(session_id=session_id, hidden_at__isnull=False)
        .order_by("position")
        .values_list("position", flat=True)
    )


def present(*, session_id: int, now: datetime) -> list[dict[str, Any]]:
    """Who is in the room now: open connections seen recently, one entry per person."""
    rows = (
        Attendance.objects.filter(
            session_id=session_id, left_at__isnull=True, last_seen_at__gte=now - PRESENCE_TIMEOUT
        )
        .select_related("participant")
        .order_by("participant__is_facilitator", "participant__name")
    )
    people: dict[int, dict[str, Any]] = {}
    for row in rows:
        p = row.participant
        people.setdefault(
            p.pk,
            {
                "participant": p.pk,
                "name": p.name,
                "facilitator": p.is_facilitator,
                "muted": p.muted_at is not None,
            },
        )
    return sorted(
        people.values(), key=lambda person: (not person["facilitator"], person["name"].casefold())
    )


def hidden_participants(*, session: GroupSession, owner: User) -> list[int]:
    """Participants of this session whose messages ``owner`` chose not to see."""
    hidden_users = HiddenAuthor.objects.filter(group_id=session.group_id, owner=owner).values(
        "hidden_user_id"
    )
    return list(
        Participant.objects.filter(session=session, user_id__in=hidden_users).values_list(
            "pk", flat=True
        )
    )
