"""An extension point: checks run on every stored message, inside its transaction.

chat must not import moderation (moderation builds on chat), so moderation registers its checks
here when it starts (see moderation.apps). A check never blocks a message: it may return private
events for the sender and for the room's facilitators, which go out only after commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chat.broadcast import broadcast_on_commit, facilitators_group

if TYPE_CHECKING:
    from chat.models import Message
    from chat.selectors import RoomAccess


@dataclass
class CheckOutcome:
    to_sender: list[dict[str, Any]] = field(default_factory=list)
    to_facilitators: list[dict[str, Any]] = field(default_factory=list)


MessageCheck = Callable[["Message", "RoomAccess"], CheckOutcome | None]
_CHECKS: list[MessageCheck] = []


def register_message_check(check: MessageCheck) -> None:
    if check not in _CHECKS:
        _CHECKS.append(check)


def run_message_checks(message: Message, access: RoomAccess) -> list[dict[str, Any]]:
    """Run every registered check; return the events for the sender.

    Call inside the transaction that stored ``message``.
    """
    to_sender: list[dict[str, Any]] = []
    for check in _CHECKS:
        outcome = check(message, access)
        if outcome is None:
            continue
        to_sender.extend(outcome.to_sender)
        for event in outcome.to_facilitators:
            broadcast_on_commit(facilitators_group(message.session_id), event)
    return to_sender
