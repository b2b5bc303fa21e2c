"""Being in the room: joining, leaving, and whether each open socket may stay.

A socket that may no longer be here is closed by its own re-check, which these functions ask
for or which the consumer makes; nothing here closes a socket itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from accounts.models import User
from accounts.policy import logins_check
from accounts.sessions import logins_current, logins_renew
from chat.broadcast import broadcast_on_commit, login_group, person_group
from chat.models import Attendance, Participant, Room
from chat.selectors import (
    RoomAccess,
    RoomRefusal,
    room_access_many,
)


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


def person_recheck_sockets(*, user_id: int) -> None:
    """Tell the person's open sockets to re-check their right to be in their rooms now (after
    commit): call when something about them that ``room_access`` reads has changed."""
    broadcast_on_commit(person_group(user_id), {"type": "person.recheck"})


def login_revoke_sockets(*, session_key: str, reason: str) -> None:
    """Close the sockets opened under one login (the other devices stay connected)."""
    broadcast_on_commit(login_group(session_key), {"type": "person.revoked", "reason": reason})
