"""Reads that the sockets of one room in this process share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from chat.db_threads import db

# Reads that every socket of a room in this process makes at about the same time (filling the
# same gap) share one query: fifty sockets filling a gap each with a query of its own, when the
# server was already behind, put it further behind.
_shared_reads: dict[tuple[Any, ...], asyncio.Future[Any]] = {}


async def shared_read(key: tuple[Any, ...], func: Callable[..., Any], **kwargs: Any) -> Any:
    """``db(func)(**kwargs)``, or the result of the same read already under way in this
    process (``key`` names it). One socket going away does not cancel the others' read."""
    loop = asyncio.get_running_loop()
    key = (id(loop), *key)
    read = _shared_reads.get(key)
    if read is None:
        read = _shared_reads[key] = asyncio.ensure_future(db(func)(**kwargs))
        read.add_done_callback(lambda done: _shared_reads.pop(key, None))
    return await asyncio.shield(read)
