"""A Redis outage of a few seconds closes no socket: rooms go on storing messages and deliver
them from the database until Redis is back, then return to the fast path; the outage is
logged once when it begins and once when it ends, with no traceback."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import subprocess
import time
import uuid

import pytest
from asgiref.sync import sync_to_async

from tests.chat.conftest import session_cookie
from tests.chat.test_processes import (
    _wait_for_servers_connections_to_close,
    drain_until,
    free_port,
    open_socket,
    start_daphne,
)

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def start_redis(port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    import socket

    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.05)
    server.kill()
    raise RuntimeError("redis-server did not start")


def scrape(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    return conn.getresponse().read().decode()


async def send(ws, body: str) -> None:
    await ws.send(
        json.dumps({"type": "message.send", "client_id": str(uuid.uuid4()), "body": body})
    )


async def messages(ws, count: int, *, timeout: float = 15) -> list[dict]:
    """The next ``count`` message events on ``ws`` (other events skipped)."""
    found: list[dict] = []

    async def read() -> None:
        while len(found) < count:
            event = json.loads(await ws.recv())
            assert event["type"] != "error", event
            if event["type"] == "message":
                found.append(event)

    await asyncio.wait_for(read(), timeout=timeout)
    return found


async def test_a_redis_restart_closes_no_socket_and_loses_nothing(room):
    session = room["session"]
    cookies = [await sync_to_async(session_cookie)(room[who]) for who in ("alice", "bob")]
    redis_port, web_port = free_port(), free_port()
    redis = await asyncio.to_thread(start_redis, redis_port)
    server = await asyncio.to_thread(
        start_daphne, web_port, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0"
    )
    try:
        alice = await open_socket(web_port, session.pk, cookies[0])
        bob = await open_socket(web_port, session.pk, cookies[1])
        for ws in (alice, bob):
            await drain_until(ws, "history.end")
        await send(alice, "before 1")
        assert [m["body"] for m in await messages(bob, 1)] == ["before 1"]

        redis.terminate()
        await asyncio.to_thread(redis.wait, 10)
        for n in range(1, 4):
            await send(alice, f"during {n}")
        during = await messages(bob, 3)
        assert [m["body"] for m in during] == ["during 1", "during 2", "during 3"]

        redis = await asyncio.to_thread(start_redis, redis_port)
        await asyncio.sleep(3)  # the layer reconnects and subscribes again
        for n in range(1, 4):
            await send(alice, f"after {n}")
        after = await messages(bob, 3)
        assert [m["body"] for m in after] == ["after 1", "after 2", "after 3"]
        positions = [m["position"] for m in during + after]
        assert positions == list(range(2, 8))
        # Both sockets are still the ones opened before the outage.
        for ws in (alice, bob):
            assert ws.close_code is None
        # The metrics saw it: two sockets open, one outage, its errors, six posts timed.
        scraped = await asyncio.to_thread(scrape, web_port)
        assert "hearth_sockets_open 2" in scraped
        assert "hearth_channel_layer_outages_total 1" in scraped
        assert "hearth_channel_layer_errors_total 0" not in scraped
        assert "hearth_message_post_seconds_count 7" in scraped
        for ws in (alice, bob):
            await ws.close()
        await asyncio.sleep(0.5)
    finally:
        server.terminate()
        await asyncio.to_thread(server.wait, 10)
        log = server.stderr.read().decode(errors="replace")
        redis.terminate()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(redis.wait, 10)
        await sync_to_async(_wait_for_servers_connections_to_close)()
    assert "Traceback" not in log, log[-4000:]
    assert log.count("Redis is unreachable") == 1, log[-4000:]
    assert log.count("Redis is back") == 1, log[-4000:]
