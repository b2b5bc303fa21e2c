"""The room's database threads: every socket's database work runs here, not in Channels'.

The database work of every socket runs in a small pool of threads rather than in Channels'
one thread per process: with one thread, every socket of a process queued behind every other
socket's queries, and a sender at 50 messages a second waited seconds for its ack while the
CPU idled. Each call is self-contained (its own transaction, no state kept in the thread), so
any thread may run it; a socket still makes one call at a time, in order.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connections

from chat.broadcast import sends_collected

DB_THREADS = settings.CHAT_DB_THREADS
_db_pool = ThreadPoolExecutor(max_workers=DB_THREADS, thread_name_prefix="room-db")
# Each of those threads keeps the connection it borrowed from the connection pool between
# calls, and gives it back after this long: borrowing for every call would cost each call the
# pool's check (a round trip: the health check this module exists to avoid), and giving it
# back from time to time lets the pool retire old connections (its ``max_lifetime``).
DB_CONNECTION_KEEP_SECONDS = 60
_publishing: set[asyncio.Task[None]] = set()  # broadcasts of calls whose caller went away


def db(func: Callable[..., Any], *, hand_back_sends: bool = False) -> Callable[..., Awaitable[Any]]:
    """``func`` made awaitable, run in the room's database thread pool.

    Leaner than Channels' ``database_sync_to_async``, which the room's traffic made the
    biggest cost after the sockets themselves (measured with py-spy): no context copied in and
    out, no per-call health check (``_connections_tidy``), and what ``func`` broadcasts after
    its commit is published from this event loop once it returns, instead of the thread
    blocking on the loop to publish each one (``async_to_sync``). With ``hand_back_sends``
    the call returns ``(result, sends)`` and the caller publishes them (``publish``) when it
    is ready, as ``_post`` does after the ack.
    """

    async def call(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        work = loop.run_in_executor(_db_pool, functools.partial(_in_pool, func, args, kwargs))
        try:
            ok, value, sends = await asyncio.shield(work)
        except asyncio.CancelledError:
            # The caller went away (its socket closed); the work goes on, and what it commits
            # is still broadcast to everyone else.
            work.add_done_callback(_publish_when_done)
            raise
        if not ok:
            await publish(sends)
            raise value
        if hand_back_sends:
            return value, sends
        await publish(sends)
        return value

    return call


def _in_pool(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[bool, Any, list[tuple[str, dict[str, Any]]]]:
    _connections_tidy()
    with sends_collected() as sends:
        try:
            return True, func(*args, **kwargs), sends
        except Exception as error:  # raised again on the event loop, after the broadcasts
            return False, error, sends
        finally:
            _connections_tidy()


async def publish(sends: list[tuple[str, dict[str, Any]]]) -> None:
    if sends:
        layer = get_channel_layer()
        for group, event in sends:
            await layer.group_send(group, event)


def _publish_when_done(work: asyncio.Future[Any]) -> None:
    if work.cancelled() or work.exception() is not None:
        return
    task = asyncio.get_running_loop().create_task(publish(work.result()[2]))
    _publishing.add(task)
    task.add_done_callback(_publishing.discard)


def db_threads_release(seconds: float = 10) -> None:
    """Have every room database thread give its connection back to the pool now (a thread
    keeps one between calls): before a database is dropped, as the test suite's end does."""
    threads = _db_pool._max_workers
    everyone = threading.Barrier(threads, timeout=seconds)

    def release() -> None:
        connections.close_all()
        everyone.wait()  # each thread takes exactly one of these jobs

    for done in [_db_pool.submit(release) for _ in range(threads)]:
        done.result(timeout=seconds)


def _connections_tidy() -> None:
    """What ``close_old_connections`` does around each request, without its health check.

    That check (the pool's, when it lends a connection) is a round trip before the first query
    of every call: one more for each message. Here the thread keeps its connection, and gives
    it back to the pool (the next query borrows one again) when an error has made it doubtful,
    when it was left outside autocommit, or ``DB_CONNECTION_KEEP_SECONDS`` after it was
    borrowed. A connection the server dropped fails one call, which marks it; the pool
    discards it, and the thread's next call starts afresh.
    """
    for connection in connections.all(initialized_only=True):
        if connection.connection is None:
            continue
        # close_at is when Django itself would give the connection back: when it was
        # borrowed, since CONN_MAX_AGE is 0 with a pool.
        if (
            connection.errors_occurred
            or connection.get_autocommit() != connection.settings_dict["AUTOCOMMIT"]
            or (
                connection.close_at is not None
                and time.monotonic() >= connection.close_at + DB_CONNECTION_KEEP_SECONDS
            )
        ):
            connection.close()


def db_pool_close_connections() -> None:
    """Give back the database connections the room's threads keep (to the connection pool,
    which closes them when it is closed: so that, for example, a test database can be
    dropped). Blocks until every thread has done it."""
    threads = len(_db_pool._threads)
    if not threads:
        return
    everyone = threading.Barrier(threads)

    def close() -> None:
        connections.close_all()
        everyone.wait(timeout=10)  # holds this thread, so the next task lands on another

    for future in [_db_pool.submit(close) for _ in range(threads)]:
        future.result()
