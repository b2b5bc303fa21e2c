"""Channel-layer group names, and sending to them only after the change has committed.

The channel layer is the fast path and may drop a message: clients detect gaps in positions
and catch up from the database.
"""

from __future__ import annotations

import hashlib
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def room_group(session_id: int) -> str:
    """Everyone connected to one session's room."""
    return f"room.{session_id}"


def facilitators_group(session_id: int) -> str:
    """The facilitators connected to one session's room (private alerts)."""
    return f"room.{session_id}.facilitators"


def person_group(user_id: int) -> str:
    """Every socket of one person, whichever login opened it (told to re-check their right)."""
    return f"person.{user_id}"


def login_group(session_key: str) -> str:
    """Every socket opened under one login (one browser's session)."""
    return f"login.{hashlib.sha256(session_key.encode()).hexdigest()[:40]}"


def send_now(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, event)


def broadcast_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` once the surrounding transaction commits (never if it rolls
    back). Outside a transaction it is sent at once."""
    transaction.on_commit(lambda: send_now(group, event))
