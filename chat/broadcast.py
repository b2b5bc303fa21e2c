"""Channel-layer group names, and sending to them only after the change has committed.

The channel layer is the fast path and may drop a message: clients detect gaps in positions
and catch up from the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

_sending: set[asyncio.Task[None]] = set()  # sends scheduled on a running loop, until done
_collecting = threading.local()  # .sends: a list while a caller collects this thread's sends


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


@contextmanager
def sends_collected() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Within this block, what this thread would send to the channel layer is listed instead,
    for the caller to send itself: a room's database thread hands its broadcasts to the event
    loop that awaits it, instead of blocking on that loop to publish each one."""
    outer = getattr(_collecting, "sends", None)
    sends: list[tuple[str, dict[str, Any]]] = []
    _collecting.sends = sends
    try:
        yield sends
    finally:
        _collecting.sends = outer


def send_now(group: str, event: dict[str, Any]) -> None:
    sends = getattr(_collecting, "sends", None)
    if sends is not None:
        sends.append((group, event))
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # the usual case: sync code in a thread of its own
        async_to_sync(layer.group_send)(group, event)
    else:  # sync code called from inside an event loop cannot block on it
        task = loop.create_task(layer.group_send(group, event))
        _sending.add(task)
        task.add_done_callback(_sending.discard)


def broadcast_on_commit(group: str, event: dict[str, Any]) -> None:
    """Send ``event`` to ``group`` once the surrounding transaction commits (never if it rolls
    back). Outside a transaction it is sent at once."""
    transaction.on_commit(lambda: send_now(group, event))
