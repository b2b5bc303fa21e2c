"""The room's database threads: connections borrowed from the pool and kept without a health
check per call, and the broadcasts of a call published by the event loop that awaited it."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels.layers import get_channel_layer
from django.db import OperationalError, connection, connections

from chat import db_threads
from chat.broadcast import broadcast_on_commit

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_thread_whose_connection_the_server_dropped_fails_one_call_then_recovers():
    thread = ThreadPoolExecutor(max_workers=1)
    try:
        ok, first, _ = thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
        assert ok
        ok, again, _ = thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
        assert ok and again == first  # kept between calls
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])

        ok, error, _ = thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
        assert not ok and isinstance(error, OperationalError)
        ok, fresh, _ = thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
        assert ok and fresh != first
    finally:
        thread.submit(connections.close_all).result()
        thread.shutdown()


def thread_holds_a_connection() -> bool:
    return connection.connection is not None


def test_a_thread_borrows_from_the_connection_pool_once_not_for_every_call():
    thread = ThreadPoolExecutor(max_workers=1)
    try:
        thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
        borrowed = connection.pool.get_stats()["requests_num"]
        for _ in range(5):
            ok, _, _ = thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
            assert ok
        assert connection.pool.get_stats()["requests_num"] == borrowed
        assert thread.submit(thread_holds_a_connection).result()
    finally:
        thread.submit(connections.close_all).result()
        thread.shutdown()


def test_a_thread_gives_its_connection_back_to_the_pool_after_a_while(monkeypatch):
    thread = ThreadPoolExecutor(max_workers=1)
    try:
        ok, _, _ = thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
        assert ok and thread.submit(thread_holds_a_connection).result()
        # A minute later (here: at once), the next call gives it back after its work.
        monkeypatch.setattr(db_threads, "DB_CONNECTION_KEEP_SECONDS", 0)
        ok, _, _ = thread.submit(db_threads._in_pool, backend_pid, (), {}).result()
        assert ok
        assert not thread.submit(thread_holds_a_connection).result()
    finally:
        thread.submit(connections.close_all).result()
        thread.shutdown()


async def test_what_a_call_broadcasts_is_published_even_if_its_caller_goes_away():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("pool-test", channel)
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def work() -> None:
        loop.call_soon_threadsafe(started.set)
        broadcast_on_commit("pool-test", {"type": "message", "position": 1})
        time.sleep(0.3)  # the caller is cancelled meanwhile

    caller = asyncio.ensure_future(db_threads.db(work)())
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    event = await asyncio.wait_for(layer.receive(channel), timeout=3)
    assert event == {"type": "message", "position": 1}
    await layer.group_discard("pool-test", channel)
