"""The room's presence, told to everyone in it shortly after someone joins or leaves."""

from __future__ import annotations

import asyncio
from typing import Any

from django.utils import timezone

from chat.broadcast import room_group
from chat.db_threads import db
from chat.protocol import ServerEvent
from chat.selectors import present

# Joins and leaves within this long share one presence broadcast: one per join, while a room
# of 50 filled up, sent 50 x 50 lists of people, and made connecting everyone slow.
PRESENCE_COALESCE_SECONDS = 0.5
_presence_due: set[tuple[int, int]] = set()  # (event loop, session) with a broadcast scheduled
_presence_tasks: set[asyncio.Task[None]] = set()


def broadcast_presence_soon(session_id: int, channel_layer: Any) -> None:
    """Tell the room who is here, shortly, once for every join and leave until then."""
    loop = asyncio.get_running_loop()
    key = (id(loop), session_id)
    if key in _presence_due:
        return
    _presence_due.add(key)

    async def broadcast() -> None:
        try:
            await asyncio.sleep(PRESENCE_COALESCE_SECONDS)
        finally:
            _presence_due.discard(key)  # a change from here on schedules the next broadcast
        people = await db(present)(session_id=session_id, now=timezone.now())
        await channel_layer.group_send(
            room_group(session_id), {"type": ServerEvent.PRESENCE, "people": people}
        )

    task = loop.create_task(broadcast())
    _presence_tasks.add(task)  # keep a reference until it is done
    task.add_done_callback(_presence_tasks.discard)
