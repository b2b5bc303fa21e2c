"""Several server processes: two daphne processes share PostgreSQL and the Redis channel layer.

Two members send at once, each through a different process; a third member reading from one
of them must see every message, in one gap-free order. A facilitator's control taken through
one process reaches a member connected to the other at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import websockets
from asgiref.sync import sync_to_async
from django.db import connection

from chat.models import Message
from tests.chat.conftest import session_cookie
from tests.conftest import deployment_env
from tests.e2e.conftest import SERVER_APP_NAME, wait_for_other_connections_to_close

ROOT = Path(__file__).resolve().parents[2]
PER_SENDER = 30

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_daphne(port: int, **extra_env: str) -> subprocess.Popen:
    env = {
        **os.environ,
        **deployment_env(),
        "DEBUG": "1",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-insecure-key-never-use-in-production"),
        "CHAT_RATE_LIMIT_BURST": "1000",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PGAPPNAME": SERVER_APP_NAME,
        **extra_env,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode()[-2000:])
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("daphne did not start")


async def open_socket(port: int, session_id: int, cookie: str):
    return await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/sessions/{session_id}/?after=0",
        origin="http://127.0.0.1",
        additional_headers={"Cookie": f"sessionid={cookie}"},
        open_timeout=10,
        # Unread events beyond a bounded queue pause reading, and then close() waits its full
        # timeout for the server's close frame.
        max_queue=None,
    )


async def drain_until(ws, kind: str, *, timeout: float = 10) -> list[dict]:
    """Every event up to and including the first ``kind``, all within ``timeout`` seconds."""
    events = []

    async def read() -> list[dict]:
        while True:
            event = json.loads(await ws.recv())
            events.append(event)
            if event["type"] == kind:
                return events

    return await asyncio.wait_for(read(), timeout=timeout)


@contextlib.asynccontextmanager
async def daphne_servers(*envs: dict[str, str]) -> AsyncIterator[list[int]]:
    """The ports of daphne processes on the test database, one for each of ``envs`` (what its
    environment adds); they are stopped on leaving."""
    servers: list[subprocess.Popen] = []
    try:
        ports = []
        for env in envs:
            ports.append(free_port())
            servers.append(await asyncio.to_thread(start_daphne, ports[-1], **env))
        yield ports
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        await sync_to_async(_wait_for_servers_connections_to_close)()


def _wait_for_servers_connections_to_close() -> None:
    wait_for_other_connections_to_close()
    connection.close()  # this thread's own, used to look; or the test database cannot be dropped


@pytest.fixture
async def two_servers():
    """The ports of two daphne processes on the test database."""
    async with daphne_servers({}, {}) as ports:
        yield ports


async def test_two_senders_through_two_processes_give_one_gap_free_order(room, two_servers):
    session, ports = room["session"], two_servers
    from tests.factories import make_member

    reader = (await sync_to_async(make_member)(room["group"])).user
    cookies = [await sync_to_async(session_cookie)(u) for u in (room["alice"], room["bob"], reader)]
    alice = await open_socket(ports[0], session.pk, cookies[0])
    bob = await open_socket(ports[1], session.pk, cookies[1])
    watcher = await open_socket(ports[0], session.pk, cookies[2])
    for ws in (alice, bob, watcher):
        await drain_until(ws, "history.end")
    # Presence is one list across processes: the watcher on A sees Bob, connected to B.
    while True:
        event = json.loads(await asyncio.wait_for(watcher.recv(), timeout=10))
        if event["type"] == "presence" and len(event["people"]) == 3:
            break

    async def send_all(ws, who):
        for n in range(PER_SENDER):
            await ws.send(
                json.dumps(
                    {
                        "type": "message.send",
                        "client_id": str(uuid.uuid4()),
                        "body": f"{who} {n}",
                    }
                )
            )
        acks = 0
        while acks < PER_SENDER:
            event = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
            assert event["type"] != "error", event
            acks += event["type"] == "message.ack"

    await asyncio.gather(send_all(alice, "alice"), send_all(bob, "bob"))
    received = []
    while len(received) < 2 * PER_SENDER:
        event = json.loads(await asyncio.wait_for(watcher.recv(), timeout=15))
        if event["type"] == "message":
            received.append(event)
    assert [m["position"] for m in received] == list(range(1, 2 * PER_SENDER + 1))
    for who in ("alice", "bob"):
        own = [int(m["body"].split()[1]) for m in received if m["body"].startswith(who)]
        assert own == list(range(PER_SENDER)), f"{who}'s messages out of their own order"
    stored = await sync_to_async(
        lambda: list(
            Message.objects.filter(session=session)
            .order_by("position")
            .values_list("position", flat=True)
        )
    )()
    assert stored == list(range(1, 2 * PER_SENDER + 1))
    for ws in (alice, bob, watcher):
        await ws.close()


async def host_on_a_members_on_b(room, therapist, a: int, b: int):
    """The facilitator's socket on process ``a``, Alice's and Bob's on ``b``, each past its
    history: (their logins, their sockets, their ``room.state``s)."""
    cookies = [
        await sync_to_async(session_cookie)(u) for u in (therapist, room["alice"], room["bob"])
    ]
    sockets = [
        await open_socket(port, room["session"].pk, cookie)
        for port, cookie in zip((a, b, b), cookies, strict=True)
    ]
    states = [(await drain_until(ws, "history.end"))[0] for ws in sockets]
    return cookies, sockets, states


async def test_a_facilitators_controls_through_one_process_reach_a_member_on_the_other_at_once(
    room, therapist, two_servers
):
    """Within a second, far sooner than the sockets' own five-second re-check: the member
    learns of the mute and the hidden message, is refused a send, and is removed."""
    _, (host, alice, bob), states = await host_on_a_members_on_b(room, therapist, *two_servers)
    alice_id = states[1]["you"]["participant"]

    async def send(ws, event: dict) -> None:
        await ws.send(json.dumps(event))

    await send(bob, {"type": "message.send", "client_id": str(uuid.uuid4()), "body": "unkind"})
    position = (await drain_until(bob, "message.ack"))[-1]["position"]
    await drain_until(alice, "message")

    await send(host, {"type": "control.mute", "participant": alice_id})
    muted = (await drain_until(alice, "participant.muted", timeout=1))[-1]
    assert muted == {"type": "participant.muted", "participant": alice_id, "muted": True}
    await send(alice, {"type": "message.send", "client_id": str(uuid.uuid4()), "body": "hey"})
    assert (await drain_until(alice, "error", timeout=1))[-1]["code"] == "muted"

    await send(host, {"type": "control.hide", "position": position})
    hidden = (await drain_until(alice, "message.hidden", timeout=1))[-1]
    assert hidden["position"] == position

    await send(host, {"type": "control.remove", "participant": alice_id})
    await drain_until(alice, "you.removed", timeout=1)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(alice.recv(), timeout=1)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4003

    stored = await sync_to_async(lambda: list(Message.objects.values_list("position", flat=True)))()
    assert stored == [position]
    for ws in (host, bob):
        await ws.close()


async def test_the_floor_through_one_process_reaches_the_other_and_survives_a_reconnect(
    room, therapist, two_servers
):
    """A hand raised on B reaches the facilitator on A; a round started on A holds on B; a
    member who reconnects (to the other process) mid-round gets the same order and floor,
    and their one message ends their turn once; a pause from A refuses a send on B."""
    session, (a, b) = room["session"], two_servers
    cookies, (host, alice, bob), states = await host_on_a_members_on_b(room, therapist, a, b)
    ids = {states[1]["you"]["participant"]: "alice", states[2]["you"]["participant"]: "bob"}

    async def send(ws, event: dict) -> None:
        await ws.send(json.dumps(event))

    await send(bob, {"type": "hand.raise"})
    hands = (await drain_until(host, "hands.state", timeout=2))[-1]
    assert [h["participant"] for h in hands["queue"]] == [states[2]["you"]["participant"]]

    # Everyone must be in presence (one list across processes) before the round takes them.
    while True:
        event = json.loads(await asyncio.wait_for(host.recv(), timeout=10))
        if event["type"] == "presence" and len(event["people"]) == 3:
            break
    await send(host, {"type": "control.round_start", "prompt": "Check-in"})
    started = (await drain_until(alice, "round.state", timeout=2))[-1]["round"]
    order = [turn["participant"] for turn in started["turns"]]
    assert sorted(order) == sorted(ids)
    sockets = {"alice": alice, "bob": bob}
    first, second = ids[order[0]], ids[order[1]]

    # The first speaker's socket drops and comes back through the other process.
    await sockets[first].close()
    back = await open_socket(a, session.pk, cookies[1 if first == "alice" else 2])
    state = (await drain_until(back, "history.end"))[0]
    assert state["round"]["turns"] == started["turns"]
    assert state["round"]["current"] == order[0]
    assert state["hands"]["queue"] == hands["queue"]
    sockets[first] = back

    client_id = str(uuid.uuid4())
    for _ in range(2):  # the same message twice (a resend): one message, one turn
        await send(sockets[first], {"type": "message.send", "client_id": client_id, "body": "Hi"})
        await drain_until(sockets[first], "message.ack")
    moved = started
    while moved["current"] != order[1]:  # past the start's round.state, still unread here
        moved = (await drain_until(sockets[second], "round.state", timeout=2))[-1]["round"]
    assert [t["state"] for t in moved["turns"]] == ["spoken", "current"]

    await send(sockets[second], {"type": "round.pass"})
    while (await drain_until(host, "round.state", timeout=2))[-1]["round"] is not None:
        pass

    await send(host, {"type": "control.pause", "note": "A breath."})
    await drain_until(sockets[second], "room.paused", timeout=2)
    await send(
        sockets[second], {"type": "message.send", "client_id": str(uuid.uuid4()), "body": "x"}
    )
    assert (await drain_until(sockets[second], "error", timeout=2))[-1]["code"] == "paused"

    stored = await sync_to_async(lambda: list(Message.objects.values_list("body", flat=True)))()
    assert stored == ["Hi"]
    for ws in (host, *sockets.values()):
        await ws.close()
