"""Writes for rooms: joining, messages in order, and the facilitator's controls.

Persist first, broadcast after commit. Every facilitator action is audited in its transaction.
"""

from chat.services.attendance import attendance_open
from chat.services.closing import sessions_close_due
from chat.services.controls import (
    message_hide,
    participant_remove,
    participant_set_muted,
    room_end,
    room_extend,
    room_pin,
    room_set_locked,
)
from chat.services.floor import (
    floor_give,
    floor_open,
    hand_lower,
    hand_raise,
    hands_lower,
    room_pause,
    room_resume,
    round_done,
    round_end,
    round_pass,
    round_reorder,
    round_skip,
    round_start,
)
from chat.services.messages import Posted, author_hide_for_me, clean_body, message_post
from chat.services.sockets import (
    Socket,
    login_revoke_sockets,
    person_recheck_sockets,
    room_join,
    room_leave,
    room_recheck,
)

__all__ = [
    "Posted",
    "Socket",
    "attendance_open",
    "author_hide_for_me",
    "clean_body",
    "floor_give",
    "floor_open",
    "hand_lower",
    "hand_raise",
    "hands_lower",
    "login_revoke_sockets",
    "message_hide",
    "message_post",
    "participant_remove",
    "participant_set_muted",
    "person_recheck_sockets",
    "room_end",
    "room_extend",
    "room_join",
    "room_leave",
    "room_pause",
    "room_pin",
    "room_recheck",
    "room_resume",
    "room_set_locked",
    "round_done",
    "round_end",
    "round_pass",
    "round_reorder",
    "round_skip",
    "round_start",
    "sessions_close_due",
]
