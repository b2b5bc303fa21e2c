"""The room's protocol as the code holds it: event types, error codes, close codes, and the
encoding of live messages. docs/protocol.md describes each (tests/chat/test_protocol_doc.py
holds the two together)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

# Close codes (4000-4999 are the application's): see docs/protocol.md.
CLOSE_ENDED = 4000
CLOSE_REVOKED = 4001
CLOSE_REMOVED = 4003


class ServerEvent(StrEnum):
    """The type of every event a client can receive; docs/protocol.md describes each one
    (tests/chat/test_protocol_doc.py holds the two together).

    The consumer builds some itself; the others are sent to the channel layer after commit by
    chat.services or moderation, and forwarded by the handler of the same name.
    """

    ROOM_STATE = "room.state"
    MESSAGE = "message"
    HISTORY_END = "history.end"
    MESSAGE_ACK = "message.ack"
    MESSAGE_HIDDEN = "message.hidden"
    PARTICIPANT_MUTED = "participant.muted"
    PARTICIPANT_REMOVED = "participant.removed"
    PRESENCE = "presence"
    ROOM_LOCKED = "room.locked"
    ROOM_PINNED = "room.pinned"
    ROOM_EXTENDED = "room.extended"
    ROOM_WARNING = "room.warning"
    ROOM_PAUSED = "room.paused"
    HANDS_STATE = "hands.state"
    ROUND_STATE = "round.state"
    ROOM_CLOSED = "room.closed"
    ROOM_REVOKED = "room.revoked"
    YOU_REMOVED = "you.removed"
    CRISIS_SUPPORT = "crisis.support"  # a message check's private note to the sender
    CRISIS_ALERT = "crisis.alert"
    REPORT_ALERT = "report.alert"
    ERROR = "error"


# Every ``error`` code a client can receive: the consumer's own (BAD_REQUEST), room_access's
# refusals, and the ServiceError codes of the services it calls (chat.services, and the groups
# services behind control.end and control.extend).
BAD_REQUEST = "bad_request"
ERROR_CODES = frozenset(
    {
        BAD_REQUEST,
        # message.send
        "invalid_client_id",
        "invalid_body",
        "too_long",
        "rate_limited",
        "muted",
        "not_joined",
        # room_access
        "not_allowed",
        "suspended",
        "cancelled",
        "too_early",
        "closed",
        "removed",
        "locked",
        # hide_author and the controls
        "no_such_person",
        "facilitator",
        "forbidden",
        "no_such_message",
        "extension_range",
        "extended",
        "not_open",
        "overlap",
        "inactive",
        # the floor: pause, hands, rounds
        "paused",
        "not_your_turn",
        "pause_range",
        "no_hands",
        "invalid_prompt",
        "round_running",
        "nobody_here",
        "no_round",
        "bad_order",
        "not_in_round",
        "turn_taken",
    }
)


_TEXT = "_text"  # where a live message event keeps its encoding (never sent as a field)


def encoded(event: dict[str, Any]) -> str:
    """A live message event as JSON text, encoded once for all this process's sockets in the
    room (the relay hands each of them the same event)."""
    text = event.get(_TEXT)
    if text is None:
        text = event[_TEXT] = json.dumps(event)  # encoded before the key is added
    return text
