"""Live rooms under load: 20 rooms of 50 members at stepped message rates, beside a minimal peer.

Creates the PostgreSQL database ``hearth_bench_rooms`` with 20 groups of 50 active members and
one open session each, logs every member in (Django sessions written straight into the table)
and then, in one run, measures these servers in turn, each as two processes sharing Redis (and
PostgreSQL):

1. ``core``: Hearth (daphne, DEBUG=0) with ``RedisChannelLayer`` (``CHANNEL_LAYER=core``);
2. ``pubsub``: Hearth with ``RedisPubSubChannelLayer``, the default (``CHANNEL_LAYER=pubsub``);
3. ``floor``: ``bench/channels_floor.py``, the peer's relay on daphne + Channels + pub/sub;
4. ``peer``: the minimal peer, ``bench/peer_relay.py`` (``websockets`` + Redis pub/sub, no Django).

For each, 1,000 WebSocket clients connect (alternately to the two processes) in slices, the idle
cost measured after each; then one sender sends 50 messages a second into one room (persisted
send -> its own message back); then random members send at stepped total rates across the 20
rooms. Every receiver records every position it gets: delivery must be complete (each member
gets each position exactly once), latency is measured from the send to every receiver. If a
Hearth server cannot hold every socket, the servers are measured again with fewer members per
room (``--fallback-members``) in the same run. The machine is shared, so the result is the ratio
of Hearth's highest clean rate to the peer's, measured in the same run. Run from the repository
root::

    .venv/bin/python bench/rooms.py [--step-seconds 10] [--max-rate 1600] [--keep] [--no-write]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import gc
import http.client
import json
import math
import multiprocessing
import os
import random
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from common import (  # bench/ is first on sys.path: the benchmarks run as scripts
    DOC,
    PG_SERVER,
    create_database,
    drop_database,
    git_revision,
    write_section,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DAPHNE = str(Path(PYTHON).with_name("daphne"))
PEER = ROOT / "bench" / "peer_relay.py"
FLOOR_APP = "bench.channels_floor:application"
README = ROOT / "bench" / "README.md"

DB_NAME = "hearth_bench_rooms"
DATABASE_URL = f"{PG_SERVER}/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/3"  # this benchmark's own Redis database: flushed per server

RATES = (10, 25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200)
CLEAN_P99_MS = 100.0  # "the highest rate with p99 under 100 ms" (and every message delivered)
STOP_P99_MS = 250.0  # stepping stops past this, or when a message goes missing
ECHO_RATE = 50
ECHO_TARGET_MS = 40.0
PEER_RATIO_TARGET = 0.25


def section_title(rooms: int, members: int) -> str:
    """The heading of this benchmark's section in docs/performance.md, one per scale (a run at
    another scale does not overwrite the 20 x 50 figures)."""
    return f"## Live rooms ({rooms} rooms \N{MULTIPLICATION SIGN} {members} members)"


class BenchError(Exception):
    """Something the benchmark cannot measure through (a refused handshake, a dead server)."""


class Deadline(BenchError):
    pass


# =============================================================================================
# The load generator: runs in its own process(es), holds the WebSocket clients of whole rooms.
# =============================================================================================


class Client:
    __slots__ = (
        "cookie",
        "counts",
        "distinct",
        "index",
        "port",
        "ready",
        "room",
        "sent",
        "task",
        "ws",
    )

    def __init__(self, index: int, room: int, port: int, cookie: str) -> None:
        self.index = index
        self.room = room
        self.port = port
        self.cookie = cookie
        self.ws: Any = None
        self.counts = bytearray(1024)  # receipts per position (capped at 255)
        self.distinct = 0  # positions received at least once
        self.sent: dict[str, int] = {}  # client_id -> send time (ns), until its echo arrives
        self.task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()  # history.end arrived


class LoadWorker:
    """Commands arrive on a pipe; each answers one dict (or ``{"error": ...}``)."""

    def __init__(self, conn: Connection, number: int) -> None:
        self.conn = conn
        self.number = number
        self.clients: list[Client] = []
        self.by_room: dict[int, list[Client]] = defaultdict(list)
        self.kind = "hearth"
        self.closing = False
        self.reset_phase()

    def reset_phase(self) -> None:
        self.lat_pos: dict[int, array.array[int]] = defaultdict(lambda: array.array("q"))
        self.lat_us: dict[int, array.array[int]] = defaultdict(lambda: array.array("q"))
        self.echo_us = array.array("q")
        self.ack_us = array.array("q")
        self.acked = 0
        self.answered = 0  # acks and errors for message.send
        self.errors: Counter[str] = Counter()
        self.last_first_ns = 0  # when a position last reached a member for the first time
        self.closed: list[str] = []

    # --- Receiving ------------------------------------------------------------------------------

    def on_frame(self, client: Client, raw: str | bytes) -> None:
        now = time.time_ns()
        event = json.loads(raw)
        kind = event.get("type")
        if kind == "message":
            position = event["position"]
            counts = client.counts
            if position >= len(counts):
                counts.extend(bytes(position - len(counts) + 1024))
            seen = counts[position]
            if seen:
                if seen < 255:
                    counts[position] = seen + 1
                return
            counts[position] = 1
            client.distinct += 1
            self.last_first_ns = now
            sent_ns, _, rest = (event.get("body") or "").partition(" ")
            client_id = rest.partition(" ")[0]
            if not sent_ns.isdigit():
                return
            self.lat_pos[client.room].append(position)
            self.lat_us[client.room].append((now - int(sent_ns)) // 1000)
            own = client.sent.pop(client_id, None)
            if own is not None:
                self.echo_us.append((now - own) // 1000)
        elif kind == "message.ack":
            self.acked += 1
            self.answered += 1
            sent = client.sent.get(event.get("client_id"))
            if sent is not None:
                self.ack_us.append((now - sent) // 1000)
        elif kind == "history.end":
            client.ready.set()
        elif kind == "error":
            self.errors[event.get("code", "?")] += 1
            if "client_id" in event:
                self.answered += 1
        elif kind in ("room.closed", "room.revoked", "you.removed"):
            self.errors[kind] += 1

    async def read(self, client: Client) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in client.ws:
                self.on_frame(client, raw)
        except ConnectionClosed as closed:
            if not self.closing:
                code = closed.rcvd.code if closed.rcvd else "none"
                self.closed.append(f"client {client.index} closed with {code}")
        except Exception as error:  # a bug here must not pass as a lost message
            self.closed.append(f"client {client.index}: {type(error).__name__}: {error}")

    # --- Commands -------------------------------------------------------------------------------

    async def do_connect(
        self, *, kind: str, clients: list[list[Any]], batch: int, timeout: float
    ) -> dict[str, Any]:
        """Open ``clients`` (added to those already open), ``batch`` at a time; each counts as
        connected once ``history.end`` arrives."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidMessage, InvalidStatus

        self.kind = kind
        self.closing = False
        fresh = [Client(*spec) for spec in clients]
        self.clients.extend(fresh)
        for client in fresh:
            self.by_room[client.room].append(client)
        held = len(self.clients) - len(fresh)

        async def open_one(client: Client) -> None:
            url = f"ws://127.0.0.1:{client.port}/ws/sessions/{client.room}/?after=0"
            headers = {"Cookie": f"sessionid={client.cookie}"} if client.cookie else {}
            try:
                client.ws = await connect(
                    url,
                    origin=f"http://127.0.0.1:{client.port}",  # type: ignore[arg-type]
                    additional_headers=headers,
                    compression=None,
                    ping_interval=None,
                    open_timeout=timeout,
                    close_timeout=2,
                    max_size=2**22,
                )
            except InvalidStatus as refused:
                body = refused.response.body[:200].decode(errors="replace")
                raise BenchError(
                    f"handshake refused for client {client.index} (room {client.room}, port "
                    f"{client.port}): HTTP {refused.response.status_code} {body}"
                ) from None
            except InvalidMessage:
                raise BenchError(
                    f"client {client.index} (room {client.room}, port {client.port}): the server "
                    "closed the connection without an HTTP response (daphne does that when the "
                    "application has not accepted a handshake within 5 s)"
                ) from None
            client.task = asyncio.create_task(self.read(client))
            try:
                await asyncio.wait_for(client.ready.wait(), timeout)
            except TimeoutError:
                raise BenchError(
                    f"client {client.index} (room {client.room}) got no history.end within "
                    f"{timeout:g} s; closed: {self.closed[-3:]}"
                ) from None

        began = time.monotonic()
        for start in range(0, len(fresh), batch):
            group = fresh[start : start + batch]
            results = await asyncio.gather(*(open_one(c) for c in group), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                error = failures[0]
                raise BenchError(
                    f"{len(failures)} of {len(group)} clients failed to connect with "
                    f"{held + start} of this load process's clients already open: {error}"
                )
        gc.collect()
        gc.freeze()  # the clients live for the whole run: keep them out of the collector's way
        return {"connected": len(self.clients), "seconds": time.monotonic() - began}

    async def do_send(
        self,
        *,
        rate: float,
        seconds: float,
        t0_ns: int,
        rooms: list[int],
        sender: int | None,
        ack_timeout: float,
    ) -> dict[str, Any]:
        """Send ``rate`` messages a second for ``seconds`` (open loop, round robin over
        ``rooms``, a random member each time unless ``sender`` is fixed); wait for the acks."""
        from websockets.exceptions import ConnectionClosed

        self.reset_phase()
        rng = random.Random(t0_ns ^ self.number)
        count = max(1, round(rate * seconds))
        interval = 1e9 / rate
        fixed = next(c for c in self.clients if c.index == sender) if sender is not None else None
        send_errors = 0
        max_lag_ns = 0
        first_ns = last_ns = 0
        dumps = json.dumps
        for k in range(count):
            target = t0_ns + int(k * interval)
            now = time.time_ns()
            if target > now:
                await asyncio.sleep((target - now) / 1e9)
            else:
                max_lag_ns = max(max_lag_ns, now - target)
                if k % 8 == 0:
                    await asyncio.sleep(0)  # behind schedule: still let the readers run
            client = fixed or rng.choice(self.by_room[rooms[k % len(rooms)]])
            client_id = str(uuid.uuid4())
            sent_ns = time.time_ns()
            client.sent[client_id] = sent_ns
            body = f"{sent_ns} {client_id} bench message"
            try:
                await client.ws.send(
                    dumps({"type": "message.send", "client_id": client_id, "body": body})
                )
            except ConnectionClosed:
                send_errors += 1
                client.sent.pop(client_id, None)
                continue
            first_ns = first_ns or sent_ns
            last_ns = sent_ns
        sent = count - send_errors
        deadline = time.monotonic() + ack_timeout
        while self.answered < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return {
            "sent": sent,
            "acked": self.acked,
            "answered": self.answered,
            "send_errors": send_errors,
            "max_lag_ms": max_lag_ns / 1e6,
            "first_send_ns": first_ns,
            "last_send_ns": last_ns,
        }

    def missing_and_duplicates(self, ranges: dict[int, list[int]]) -> tuple[int, int, int]:
        missing = duplicates = incomplete = 0
        for room, (before, last) in ranges.items():
            for client in self.by_room[room]:
                counts = client.counts
                gaps = 0
                for position in range(before + 1, last + 1):
                    seen = counts[position] if position < len(counts) else 0
                    if not seen:
                        gaps += 1
                    elif seen > 1:
                        duplicates += seen - 1
                missing += gaps
                incomplete += gaps > 0
        return missing, duplicates, incomplete

    def complete(self, ranges: dict[int, list[int]]) -> bool:
        return all(
            client.distinct >= last
            for room, (_, last) in ranges.items()
            for client in self.by_room[room]
        )

    async def do_check(
        self, *, ranges: dict[int, list[int]], grace: float, drain: float
    ) -> dict[str, Any]:
        """Wait up to ``grace`` s for every member to hold every position of its room in
        ``ranges`` (``(before, last]``), count what is missing then, and if something is, wait up
        to ``drain`` s more to tell late from lost. Returns the phase's figures."""
        began = time.monotonic()
        while not self.complete(ranges) and time.monotonic() - began < grace:
            await asyncio.sleep(0.02)
        missing, duplicates, incomplete = self.missing_and_duplicates(ranges)
        lost = missing
        if missing:
            while not self.complete(ranges) and time.monotonic() - began < grace + drain:
                await asyncio.sleep(0.05)
            lost, duplicates, _ = self.missing_and_duplicates(ranges)
        latencies = array.array("q")
        for room, (before, last) in ranges.items():
            positions, values = self.lat_pos[room], self.lat_us[room]
            latencies.extend(
                v for p, v in zip(positions, values, strict=True) if before < p <= last
            )
        for client in self.clients:
            client.sent.clear()
        result = {
            "receipts": len(latencies),
            "missing": missing,
            "lost": lost,
            "duplicates": duplicates,
            "incomplete_clients": incomplete,
            "latencies": latencies.tobytes(),
            "echo": self.echo_us.tobytes(),
            "ack": self.ack_us.tobytes(),
            "errors": dict(self.errors),
            "closed": list(self.closed),
            "last_first_ns": self.last_first_ns,
        }
        self.reset_phase()
        return result

    async def do_close(self) -> dict[str, Any]:
        self.closing = True

        async def close(client: Client) -> None:
            if client.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.ws.close(), 3)
            if client.task is not None:
                client.task.cancel()

        for start in range(0, len(self.clients), 100):
            await asyncio.gather(*(close(c) for c in self.clients[start : start + 100]))
        closed = len(self.clients)
        gc.unfreeze()
        self.clients = []
        self.by_room = defaultdict(list)
        return {"closed": closed}

    async def do_quit(self) -> dict[str, Any]:
        return {"bye": True}

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, self.conn.recv)
            name = command.pop("cmd")
            try:
                reply = await getattr(self, f"do_{name}")(**command)
            except BenchError as error:
                reply = {"error": str(error)}
            except Exception as error:
                reply = {"error": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"}
            self.conn.send(reply)
            if name == "quit":
                return


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def worker_main(conn: Connection, number: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the orchestrator stops us
    raise_file_limit()
    asyncio.run(LoadWorker(conn, number).serve())


@dataclass
class Workers:
    """The load generator processes, and which rooms each one holds."""

    processes: list[Any]
    pipes: list[Connection]
    rooms: list[list[int]]  # per worker

    @classmethod
    def start(cls, count: int, rooms: list[int]) -> Workers:
        context = multiprocessing.get_context("spawn")
        processes, pipes = [], []
        for number in range(count):
            mine, theirs = context.Pipe()
            process = context.Process(target=worker_main, args=(theirs, number), daemon=True)
            process.start()
            theirs.close()
            processes.append(process)
            pipes.append(mine)
        share = [[room for i, room in enumerate(rooms) if i % count == n] for n in range(count)]
        return cls(processes, pipes, share)

    def owner(self, room: int) -> int:
        return next(n for n, rooms in enumerate(self.rooms) if room in rooms)

    def call(self, commands: dict[int, dict[str, Any]], timeout: float) -> dict[int, Any]:
        """Send each worker its command, wait for every answer (at most ``timeout`` s)."""
        replies: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        try:
            for number, command in commands.items():
                self.pipes[number].send(command)
            for number in commands:
                remaining = deadline - time.monotonic()
                if not self.pipes[number].poll(max(0.0, remaining)):
                    raise BenchError(
                        f"load worker {number} did not answer {commands[number]['cmd']} "
                        f"within {timeout:g} s"
                    )
                replies[number] = self.pipes[number].recv()
        except (EOFError, OSError) as error:
            raise BenchError(f"a load worker died: {type(error).__name__}: {error}") from None
        for number, reply in replies.items():
            if "error" in reply:
                raise BenchError(f"load worker {number}: {reply['error']}")
        return replies

    def all(self, command: dict[str, Any], timeout: float) -> dict[int, Any]:
        return self.call({n: dict(command) for n in range(len(self.pipes))}, timeout)

    def stop(self) -> None:
        for number, process in enumerate(self.processes):
            if process.is_alive():
                with contextlib.suppress(Exception):
                    self.pipes[number].send({"cmd": "quit"})
                process.join(3)
            if process.is_alive():
                process.terminate()
                process.join(3)


# =============================================================================================
# The Hearth data set
# =============================================================================================


@dataclass
class Member:
    room: int  # the session id (the room's id in the URL)
    cookie: str  # the sessionid cookie value


def load(*, rooms: int, members: int, now: datetime) -> list[Member]:
    """Groups with one facilitator each, ``members`` active members each, one open session
    each (a Room row ready), and a logged-in Django session per member."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Permission
    from django.contrib.sessions.backends.base import VALID_KEY_CHARS
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import transaction

    from accounts.models import User
    from chat.models import Room
    from groups.models import (
        Enrollment,
        GroupSession,
        TherapyGroup,
        TherapyGroupUserObjectPermission,
        Topic,
    )
    from groups.rights import FACILITATOR_RIGHTS

    def person(email: str, name: str) -> User:
        return User(email=email, display_name=name, password="!", time_zone="Europe/London")

    with transaction.atomic():
        topic = Topic.objects.order_by("sort_order").first()
        facilitators = User.objects.bulk_create(
            person(f"room-facilitator{i}@bench.hearth.example", f"Room facilitator {i}")
            for i in range(rooms)
        )
        people = User.objects.bulk_create(
            person(f"room-member{i}@bench.hearth.example", f"Room member {i}")
            for i in range(rooms * members)
        )
        groups = TherapyGroup.objects.bulk_create(
            TherapyGroup(
                title=f"Live room group {i}",
                slug=f"live-room-{i}",
                topic=topic,
                kind=TherapyGroup.Kind.SUPPORT,
                description="A group whose room the benchmark fills with messages.",
                facilitator_id=facilitators[i].pk,
                capacity=min(50, max(2, members)),  # group_capacity_range allows at most 50
                time_zone="Europe/London",
            )
            for i in range(rooms)
        )
        # One facilitator per group, so session_no_overlap_per_facilitator is never in play.
        sessions = GroupSession.objects.bulk_create(
            GroupSession(
                group_id=g.pk,
                facilitator_id=g.facilitator_id,
                starts_at=now - timedelta(minutes=5),
                ends_at=now + timedelta(hours=2),
            )
            for g in groups
        )
        Room.objects.bulk_create(Room(session_id=s.pk) for s in sessions)
        Enrollment.objects.bulk_create(
            Enrollment(
                group_id=g.pk,
                user_id=people[i * members + j].pk,
                state=Enrollment.State.ACTIVE,
                pseudonym=f"Member {j + 1}",
                activated_at=now - timedelta(days=7),
            )
            for i, g in enumerate(groups)
            for j in range(members)
        )
        rights = list(
            Permission.objects.filter(
                content_type__app_label="groups",
                content_type__model="therapygroup",
                codename__in=FACILITATOR_RIGHTS,
            )
        )
        TherapyGroupUserObjectPermission.objects.bulk_create(
            TherapyGroupUserObjectPermission(
                user_id=g.facilitator_id, content_object_id=g.pk, permission=p
            )
            for g in groups
            for p in rights
        )

        # A login per member, as Django's login() leaves it (plus the absolute-timeout mark).
        store = SessionStore()
        backend = settings.AUTHENTICATION_BACKENDS[0]
        expires = now + timedelta(hours=3)
        result: list[Member] = []
        rows: list[Session] = []
        for i, user in enumerate(people):
            key = "".join(secrets.choice(VALID_KEY_CHARS) for _ in range(32))
            data = {
                SESSION_KEY: str(user.pk),
                BACKEND_SESSION_KEY: backend,
                HASH_SESSION_KEY: user.get_session_auth_hash(),
                "hearth_login_at": time.time(),
            }
            rows.append(
                Session(session_key=key, session_data=store.encode(data), expire_date=expires)
            )
            result.append(Member(room=sessions[i // members].pk, cookie=key))
        Session.objects.bulk_create(rows, batch_size=1000)

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return result


def reset_rooms() -> None:
    """Empty every room (positions start again at 1); participants stay."""
    from chat.models import Attendance, Message, Room

    Message.objects.all().delete()
    Attendance.objects.all().delete()
    Room.objects.update(last_position=0, locked_at=None)


def flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()


# =============================================================================================
# The servers
# =============================================================================================


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Any, server: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise BenchError(f"{what} exited with {server.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError):
            if check():
                return
        time.sleep(0.2)
    raise BenchError(f"{what} did not start within 60 s:\n{tail(log)}")


def start_daphne(
    env: dict[str, str], port: int, log: Path, app: str = "config.asgi:application"
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        server = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def pings() -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/ping/")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    wait_for(pings, server, log, f"daphne on port {port}")
    return server


def start_peer(port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        server = subprocess.Popen(
            [PYTHON, str(PEER), "--port", str(port), "--redis-url", REDIS_URL],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def listens() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_for(listens, server, log, f"peer relay on port {port}")
    return server


def stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# =============================================================================================
# CPU use, from /proc
# =============================================================================================

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int | str, thread: int | str | None = None) -> int:
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    try:
        text = Path(path).read_text()
    except OSError:
        return 0
    fields = text[text.rfind(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def pids_named(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in names:
                    found.append(int(entry.name))
    return found


@dataclass
class CpuSample:
    at: float
    machine: int  # busy ticks of the whole machine
    groups: dict[str, dict[int, int]]  # component -> pid -> ticks
    threads: dict[int, dict[int, int]]  # server pid -> thread id -> ticks
    transactions: int  # PostgreSQL transactions in the benchmark database so far


def pg_state() -> tuple[int, list[int]]:
    """Transactions committed or rolled back in the benchmark's database so far (each query
    Django runs outside ``atomic`` is one; PostgreSQL flushes these counters about every
    second), and the PostgreSQL processes that work for it: its backends and the server's own
    background processes, not the backends of other databases on this shared machine."""
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (DB_NAME,),
        ).fetchone()
        pids = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s "
            "OR backend_type <> 'client backend'",
            (DB_NAME,),
        ).fetchall()
    return (int(row[0]) if row else 0), [pid for (pid,) in pids]


def machine_busy_ticks() -> int:
    """CPU time spent by everything on the machine (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return user + nice + system + irq + softirq + steal


def cpu_sample(servers: list[int], load: list[int]) -> CpuSample:
    threads: dict[int, dict[int, int]] = {}
    for pid in servers:
        with contextlib.suppress(OSError):
            threads[pid] = {
                int(t): cpu_ticks(pid, t) for t in os.listdir(f"/proc/{pid}/task") if t.isdigit()
            }
    transactions, pg_pids = pg_state()
    return CpuSample(
        at=time.monotonic(),
        machine=machine_busy_ticks(),
        groups={
            "servers": {p: cpu_ticks(p) for p in servers},
            "postgres": {p: cpu_ticks(p) for p in pg_pids},
            "redis": {p: cpu_ticks(p) for p in pids_named("redis-server")},
            "load": {p: cpu_ticks(p) for p in load},
        },
        threads=threads,
        transactions=transactions,
    )


def cpu_use(before: CpuSample, after: CpuSample) -> dict[str, float]:
    """Per cent of one core over the interval, per component; ``busiest_thread``: the hottest
    thread of any server process (for daphne, the event loop or the one database thread)."""
    seconds = max(after.at - before.at, 1e-6)
    use = {
        # A process that started in between counts from zero; one that ended is not counted.
        name: 100.0
        * sum(t - before.groups[name].get(p, 0) for p, t in after.groups[name].items())
        / TICKS
        / seconds
        for name in after.groups
    }
    hottest = 0.0
    for pid, threads in after.threads.items():
        for tid, ticks in threads.items():
            spent = ticks - before.threads.get(pid, {}).get(tid, 0)
            hottest = max(hottest, 100.0 * spent / TICKS / seconds)
    use["busiest_thread"] = hottest
    # Everything else on this shared machine (other people's tests, the orchestrator).
    machine = 100.0 * (after.machine - before.machine) / TICKS / seconds
    use["other"] = max(0.0, machine - sum(use[k] for k in ("servers", "postgres", "redis", "load")))
    use["pg_tps"] = (after.transactions - before.transactions) / seconds
    return use


# =============================================================================================
# Figures
# =============================================================================================


def percentile(values: list[int], p: float) -> float:
    """Nearest-rank percentile of already sorted values (µs in, ms out)."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1))
    return values[rank] / 1000


def from_bytes(chunks: list[bytes]) -> list[int]:
    values = array.array("q")
    for chunk in chunks:
        values.frombytes(chunk)
    return sorted(values)


@dataclass
class Step:
    offered: float
    messages: int = 0  # positions the servers gave out in this step
    sent: int = 0
    acked: int = 0
    answered: int = 0
    achieved: float = 0.0  # messages / (last delivery - first send)
    receipts: int = 0
    expected: int = 0  # messages x members
    missing: int = 0  # (member, position) pairs not there after the grace period
    lost: int = 0  # ... nor after the drain period
    duplicates: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    closed: list[str] = field(default_factory=list)
    p50: float = float("nan")
    p99: float = float("nan")
    max: float = float("nan")
    ack_p50: float = float("nan")
    ack_p99: float = float("nan")
    echo_p50: float = float("nan")
    echo_p99: float = float("nan")
    max_lag_ms: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def delivered(self) -> float:
        return (self.receipts / self.expected) if self.expected else float("nan")

    @property
    def complete(self) -> bool:
        return (
            self.missing == 0
            and self.duplicates == 0
            and self.messages == self.sent
            and self.answered == self.sent
            and not self.errors
            and not self.closed
        )

    @property
    def clean(self) -> bool:
        return self.complete and self.p99 < CLEAN_P99_MS and self.achieved >= 0.95 * self.offered


@dataclass
class Variant:
    key: str
    label: str
    kind: str  # "hearth", "floor" (bench/channels_floor.py) or "peer"
    env: dict[str, str] = field(default_factory=dict)
    connect_seconds: float = 0.0
    idle_cpu: dict[str, float] = field(default_factory=dict)
    echo: Step | None = None
    steps: list[Step] = field(default_factory=list)
    stopped: str = ""
    failed: str = ""  # why the variant could not be measured through, if it could not
    ramp: list[tuple[int, float, dict[str, float]]] = field(default_factory=list)
    log_notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> Step | None:
        clean = [s for s in self.steps if s.clean]
        return max(clean, key=lambda s: s.offered) if clean else None


def fmt(value: float, digits: int = 1) -> str:
    return "-" if value != value else f"{value:.{digits}f}"  # NaN -> dash


# =============================================================================================
# Running one server variant
# =============================================================================================


class Bench:
    def __init__(self, args: argparse.Namespace, members: list[Member], work: Path) -> None:
        self.args = args
        self.members = members
        self.work = work
        self.rooms = sorted({m.room for m in members})
        self.per_room = len(members) // len(self.rooms)
        self.workers = Workers.start(args.load_procs, self.rooms)
        self.load_pids = [p.pid for p in self.workers.processes]

    def use_members(self, members: list[Member]) -> None:
        """Measure with these members from now on (fresh load processes)."""
        self.members = members
        self.rooms = sorted({m.room for m in members})
        self.per_room = len(members) // len(self.rooms)
        self.restart_workers()

    def counters(self, variant: Variant) -> dict[int, int]:
        """Each room's last position, from the server's own store."""
        if variant.kind == "hearth":
            from chat.models import Room

            rows = dict(Room.objects.values_list("session_id", "last_position"))
            return {room: int(rows.get(room, 0)) for room in self.rooms}
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            values = client.mget([f"room:{room}:pos" for room in self.rooms])
        finally:
            client.close()
        return {room: int(v or 0) for room, v in zip(self.rooms, values, strict=True)}

    def phase(
        self,
        variant: Variant,
        *,
        rate: float,
        seconds: float,
        rooms: list[int],
        sender: int | None,
        servers: list[int],
        before: dict[int, int],
    ) -> tuple[Step, dict[int, int]]:
        args = self.args
        owners = sorted({self.workers.owner(room) for room in rooms})
        share = {n: [r for r in rooms if r in self.workers.rooms[n]] for n in owners}
        t0_ns = time.time_ns() + 300_000_000
        commands = {
            n: {
                "cmd": "send",
                "rate": rate * len(share[n]) / len(rooms),
                "seconds": seconds,
                "t0_ns": t0_ns,
                "rooms": share[n],
                "sender": sender,
                "ack_timeout": args.grace,
            }
            for n in owners
        }
        cpu_before = cpu_sample(servers, self.load_pids)
        sends = self.workers.call(commands, timeout=seconds + args.grace + 30)
        cpu_after = cpu_sample(servers, self.load_pids)
        after = self.counters(variant)
        ranges = {room: [before[room], after[room]] for room in rooms}
        checks = self.workers.call(
            {
                n: {
                    "cmd": "check",
                    "ranges": {r: ranges[r] for r in share[n]},
                    "grace": args.grace,
                    "drain": args.drain,
                }
                for n in owners
            },
            timeout=args.grace + args.drain + 60,
        )
        step = Step(offered=rate)
        step.messages = sum(after[r] - before[r] for r in rooms)
        step.sent = sum(s["sent"] for s in sends.values())
        step.acked = sum(s["acked"] for s in sends.values())
        step.answered = sum(s["answered"] for s in sends.values())
        step.max_lag_ms = max(s["max_lag_ms"] for s in sends.values())
        step.expected = step.messages * self.per_room
        step.receipts = sum(c["receipts"] for c in checks.values())
        step.missing = sum(c["missing"] for c in checks.values())
        step.lost = sum(c["lost"] for c in checks.values())
        step.duplicates = sum(c["duplicates"] for c in checks.values())
        errors: Counter[str] = Counter()
        for c in checks.values():
            errors.update(c["errors"])
            step.closed.extend(c["closed"])
        step.errors = dict(errors)
        first = min((s["first_send_ns"] for s in sends.values() if s["first_send_ns"]), default=0)
        last = max(c["last_first_ns"] for c in checks.values())
        if first and last > first:
            step.achieved = step.messages / ((last - first) / 1e9)
        latencies = from_bytes([c["latencies"] for c in checks.values()])
        step.p50, step.p99 = percentile(latencies, 50), percentile(latencies, 99)
        step.max = latencies[-1] / 1000 if latencies else float("nan")
        acks = from_bytes([c["ack"] for c in checks.values()])
        step.ack_p50, step.ack_p99 = percentile(acks, 50), percentile(acks, 99)
        echoes = from_bytes([c["echo"] for c in checks.values()])
        step.echo_p50, step.echo_p99 = percentile(echoes, 50), percentile(echoes, 99)
        step.cpu = cpu_use(cpu_before, cpu_after)
        return step, after

    def restart_workers(self) -> None:
        self.workers.stop()
        self.workers = Workers.start(self.args.load_procs, self.rooms)
        self.load_pids = [p.pid for p in self.workers.processes]

    def run(self, variant: Variant, budget_end: float) -> None:
        """Measure one server; if it fails (refused or dropped sockets, a dead process), record
        why and go on with the next one."""
        try:
            self.measure(variant, budget_end)
        except Deadline:
            raise
        except BenchError as error:
            variant.failed = str(error).splitlines()[0]
            variant.stopped = "failed"
            print(f"  FAILED: {variant.failed}", flush=True)
            self.restart_workers()  # their clients and pipes are in an unknown state

    def measure(self, variant: Variant, budget_end: float) -> None:
        args = self.args
        print(f"\n=== {variant.label} ===", flush=True)
        if variant.kind == "hearth":
            reset_rooms()
        flush_redis()
        servers: list[subprocess.Popen[bytes]] = []
        logs = [self.work / f"{variant.key}-{n}.log" for n in range(2)]
        try:
            ports = [free_port(), free_port()]
            for port, log in zip(ports, logs, strict=True):
                if variant.kind == "hearth":
                    servers.append(start_daphne(variant.env, port, log))
                elif variant.kind == "floor":
                    floor_env = {**variant.env, "FLOOR_REDIS_URL": REDIS_URL}
                    servers.append(start_daphne(floor_env, port, log, FLOOR_APP))
                else:
                    servers.append(start_peer(port, log))
            server_pids = [s.pid for s in servers]
            print(f"  2 processes on ports {ports[0]} and {ports[1]}", flush=True)

            # Members of each room alternate between the two processes. Connect in slices of
            # --ramp clients, measuring the idle cost after each: what holding sockets costs.
            began = time.monotonic()
            for start in range(0, len(self.members), args.ramp):
                specs: dict[int, list[list[Any]]] = defaultdict(list)
                for index in range(start, min(start + args.ramp, len(self.members))):
                    member = self.members[index]
                    cookie = member.cookie if variant.kind == "hearth" else ""
                    specs[self.workers.owner(member.room)].append(
                        [index, member.room, ports[index % 2], cookie]
                    )
                sliced = time.monotonic()
                try:
                    self.workers.call(
                        {
                            n: {
                                "cmd": "connect",
                                "kind": variant.kind,
                                "clients": specs[n],
                                "batch": max(1, args.batch // len(specs)),
                                "timeout": 30.0,
                            }
                            for n in specs
                        },
                        timeout=300,
                    )
                except BenchError as error:
                    raise BenchError(
                        f"{start:,} of {len(self.members):,} sockets were open and idle; "
                        f"opening the next {args.ramp} failed: {error}"
                    ) from None
                took = time.monotonic() - sliced
                held = min(start + args.ramp, len(self.members))
                before_idle = cpu_sample(server_pids, self.load_pids)
                time.sleep(args.ramp_seconds)
                use = cpu_use(before_idle, cpu_sample(server_pids, self.load_pids))
                variant.ramp.append((held, took, use))
                print(
                    f"  {held:5,} sockets open (this slice took {took:4.1f} s); idle: servers "
                    f"{use['servers']:3.0f} % CPU (busiest thread {use['busiest_thread']:3.0f} %)"
                    f", PostgreSQL {use['postgres']:3.0f} %, {use['pg_tps']:5.0f} transactions/s"
                    f"; other processes {use['other']:3.0f} %",
                    flush=True,
                )
            variant.connect_seconds = time.monotonic() - began

            idle_before = cpu_sample(server_pids, self.load_pids)
            time.sleep(args.idle_seconds)
            variant.idle_cpu = cpu_use(idle_before, cpu_sample(server_pids, self.load_pids))
            print(
                f"  idle, {len(self.members):,} sockets open: servers "
                f"{variant.idle_cpu['servers']:.0f} % CPU (busiest thread "
                f"{variant.idle_cpu['busiest_thread']:.0f} %), PostgreSQL "
                f"{variant.idle_cpu['postgres']:.0f} % ({variant.idle_cpu['pg_tps']:.0f} "
                f"transactions/s), Redis {variant.idle_cpu['redis']:.0f} %, load generator "
                f"{variant.idle_cpu['load']:.0f} %",
                flush=True,
            )

            positions = dict.fromkeys(self.rooms, 0)
            echo_room = self.rooms[0]
            sender = next(i for i, m in enumerate(self.members) if m.room == echo_room)
            variant.echo, positions = self.phase(
                variant,
                rate=ECHO_RATE,
                seconds=args.echo_seconds,
                rooms=[echo_room],
                sender=sender,
                servers=server_pids,
                before=positions,
            )
            e = variant.echo
            print(
                f"  echo, one sender at {ECHO_RATE}/s: p50 {fmt(e.echo_p50)} ms, p99 "
                f"{fmt(e.echo_p99)} ms (ack p99 {fmt(e.ack_p99)} ms), delivered "
                f"{e.delivered:.2%}",
                flush=True,
            )

            print(
                "  offered/s  achieved/s  delivered  missing  lost  dup   p50 ms   p99 ms   "
                "max ms  CPU: servers pg redis load (busiest thread)  pg tx/s  other CPU",
                flush=True,
            )
            for rate in [r for r in args.rates if r <= args.max_rate]:
                needed = args.step_seconds + args.grace + 15
                if time.monotonic() + needed > budget_end:
                    variant.stopped = f"time budget used up before {rate}/s"
                    break
                step, positions = self.phase(
                    variant,
                    rate=rate,
                    seconds=args.step_seconds,
                    rooms=self.rooms,
                    sender=None,
                    servers=server_pids,
                    before=positions,
                )
                variant.steps.append(step)
                c = step.cpu
                print(
                    f"  {rate:9.0f}  {step.achieved:10.1f}  {step.delivered:9.4%}  "
                    f"{step.missing:7d}  {step.lost:4d}  {step.duplicates:3d}  "
                    f"{fmt(step.p50):>7}  {fmt(step.p99):>7}  {fmt(step.max):>7}  "
                    f"{c['servers']:5.0f} {c['postgres']:4.0f} {c['redis']:4.0f} "
                    f"{c['load']:4.0f} ({c['busiest_thread']:.0f})  {c['pg_tps']:.0f}"
                    f"  other {c['other']:.0f}"
                    + (f"  errors {step.errors}" if step.errors else "")
                    + (f"  closed {step.closed[:2]}" if step.closed else "")
                    + (
                        f"  unacked {step.sent - step.answered}"
                        if step.answered < step.sent
                        else ""
                    )
                    + (f"  send lag {step.max_lag_ms:.0f} ms" if step.max_lag_ms > 100 else ""),
                    flush=True,
                )
                if not step.complete:
                    variant.stopped = f"messages missing at {rate:g}/s"
                    break
                if step.p99 > STOP_P99_MS:
                    variant.stopped = f"p99 over {STOP_P99_MS:g} ms at {rate:g}/s"
                    break
            else:
                variant.stopped = f"reached the cap ({args.max_rate:g}/s)"
            self.workers.all({"cmd": "close"}, timeout=60)
        except BenchError:
            for log in logs:
                print(f"--- {log.name}, last lines ---\n{tail(log, 60)}", file=sys.stderr)
            raise
        finally:
            for server in servers:
                stop(server)
            variant.log_notes = scan_logs(logs)
            for note in variant.log_notes:
                print(f"  log: {note}", flush=True)


def scan_logs(logs: list[Path]) -> list[str]:
    """What the server logs say that bears on delivery (dropped layer messages, errors)."""
    notes = []
    patterns = {
        "channel-layer messages over capacity (dropped)": re.compile(r"over capacity"),
        "Redis read timeouts inside a consumer (socket closed)": re.compile(
            r"TimeoutError: Timeout reading from"
        ),
        "tracebacks": re.compile(r"^Traceback", re.MULTILINE),
        "ERROR lines": re.compile(r" ERROR "),
    }
    for log in logs:
        text = log.read_text(errors="replace") if log.exists() else ""
        for label, pattern in patterns.items():
            found = len(pattern.findall(text))
            if found:
                notes.append(f"{log.name}: {found} {label}")
        if "Traceback" in text:
            first = text[text.index("Traceback") :].splitlines()[:12]
            notes.append(f"{log.name}: first traceback: " + " | ".join(first))
    return notes


# =============================================================================================
# The report
# =============================================================================================


def variant_table(variant: Variant) -> str:
    lines = [
        "| Offered msg/s | Achieved msg/s | Delivered | Missing (lost) | Dup | p50 ms | p99 ms "
        "| max ms | Clean | CPU % servers / PostgreSQL / Redis / load (busiest thread) "
        "| PostgreSQL transactions/s | Other processes CPU % |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---|---:|---:|",
    ]
    for s in variant.steps:
        c = s.cpu
        lines.append(
            f"| {s.offered:g} | {s.achieved:.1f} | {s.delivered:.2%} | {s.missing} ({s.lost}) | "
            f"{s.duplicates} | {fmt(s.p50)} | {fmt(s.p99)} | {fmt(s.max)} | "
            f"{'yes' if s.clean else 'no'} | {c['servers']:.0f} / {c['postgres']:.0f} / "
            f"{c['redis']:.0f} / {c['load']:.0f} ({c['busiest_thread']:.0f}) | "
            f"{c['pg_tps']:.0f} | {c['other']:.0f} |"
        )
    return "\n".join(lines)


def ramp_table(variant: Variant) -> str:
    lines = [
        "| Sockets open, idle | Connecting the last slice, s | CPU % servers (busiest thread) "
        "| CPU % PostgreSQL | PostgreSQL transactions/s | Other processes CPU % |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for held, took, use in variant.ramp:
        lines.append(
            f"| {held:,} | {took:.1f} | {use['servers']:.0f} ({use['busiest_thread']:.0f}) | "
            f"{use['postgres']:.0f} | {use['pg_tps']:.0f} | {use['other']:.0f} |"
        )
    return "\n".join(lines)


def summary(variants: list[Variant]) -> tuple[str, list[str]]:
    """The comparison table and the conclusions, as text."""
    peer = next((v for v in variants if v.kind == "peer"), None)
    peer_best = peer.best.offered if peer and peer.best else None
    lines = [
        "| Server | Highest clean rate (msg/s) | Ratio to the peer | p99 ms there | "
        f"Echo p50 / p99 ms at {ECHO_RATE}/s | Ack p99 ms | Idle CPU % (servers / PostgreSQL) "
        "| PostgreSQL transactions/s idle | Connect all s | Stepping stopped |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in variants:
        best = v.best
        ratio = (best.offered / peer_best) if best and peer_best else float("nan")
        e = v.echo
        clean = f"{best.offered:g} | {fmt(ratio, 2)} | {fmt(best.p99)}" if best else "none | - | -"
        echo = f"{fmt(e.echo_p50)} / {fmt(e.echo_p99)} | {fmt(e.ack_p99)}" if e else "- | -"
        idle = f"{v.idle_cpu['servers']:.0f} / {v.idle_cpu['postgres']:.0f}" if v.idle_cpu else "-"
        tps = f"{v.idle_cpu['pg_tps']:.0f}" if v.idle_cpu else "-"
        connect = f"{v.connect_seconds:.1f}" if v.connect_seconds else "-"
        stopped = f"failed: {v.failed}" if v.failed else v.stopped
        lines.append(f"| {v.label} | {clean} | {echo} | {idle} | {tps} | {connect} | {stopped} |")
    notes: list[str] = []
    hearth = [v for v in variants if v.kind == "hearth"]
    for v in hearth:
        if v.failed:
            notes.append(f"{v.label}: could not be measured through: {v.failed}")
        elif v.best and peer_best:
            ratio = v.best.offered / peer_best
            verdict = "meets" if ratio >= PEER_RATIO_TARGET else "misses"
            notes.append(
                f"{v.label}: {v.best.offered:g} msg/s clean, {ratio:.2f} of the peer's "
                f"{peer_best:g} msg/s; {verdict} the target of {PEER_RATIO_TARGET:g}."
            )
        elif peer_best:
            notes.append(f"{v.label}: no clean step at all (the peer reached {peer_best:g}).")
    for v in hearth:
        if not v.echo:
            continue
        e = v.echo
        verdict = "meets" if e.echo_p99 < ECHO_TARGET_MS and e.complete else "misses"
        notes.append(
            f"Persisted send -> echo, one sender at {ECHO_RATE}/s ({v.label}): p50 "
            f"{fmt(e.echo_p50)} ms, p99 {fmt(e.echo_p99)} ms; {verdict} the "
            f"{ECHO_TARGET_MS:g} ms target."
        )
    floor = next((v for v in variants if v.kind == "floor"), None)
    if floor is not None and floor.best and peer_best:
        ceiling = floor.best.offered / peer_best
        notes.append(
            f"{floor.label}: {floor.best.offered:g} msg/s clean, {ceiling:.2f} of the peer's "
            f"{peer_best:g}: what daphne and Channels alone allow relative to the peer, with "
            "nothing of Hearth's per-message work."
        )
        for v in hearth:
            if v.best:
                notes.append(
                    f"{v.label}: {v.best.offered / floor.best.offered:.2f} of the Channels "
                    "floor's clean rate."
                )
    notes.append(layer_choice(hearth))
    return "\n".join(lines), notes


def layer_choice(hearth: list[Variant]) -> str:
    """Which channel layer the figures favour, and why (the numbers side by side)."""
    by_key = {v.key: v for v in hearth}
    pubsub = by_key.get("pubsub")
    core = by_key.get("core")
    if pubsub is None or core is None:
        return "Channel layer: not compared (run both core and pubsub)."
    said = []
    if core.failed or pubsub.failed:
        failed = pubsub.label if pubsub.failed else core.label
        said.append(f"No figures to compare ({failed} did not run through).")
        pick = (
            "RedisPubSubChannelLayer"
            if not pubsub.failed
            else "neither as configured (see the failures)"
        )
        return "Channel layer: " + " ".join(said) + f" The figures favour {pick}."
    r_best = core.best.offered if core.best else 0.0
    p_best = pubsub.best.offered if pubsub.best else 0.0
    common = [
        (a, b)
        for a in core.steps
        for b in pubsub.steps
        if a.offered == b.offered and a.complete and b.complete
    ]
    at = max(common, key=lambda pair: pair[0].offered) if common else None
    said.append(
        f"Highest clean rate: {r_best:g} msg/s with {core.label}, {p_best:g} with {pubsub.label}."
    )
    if at:
        said.append(
            f"At {at[0].offered:g} msg/s: p50 {fmt(at[0].p50)} vs {fmt(at[1].p50)} ms, p99 "
            f"{fmt(at[0].p99)} vs {fmt(at[1].p99)} ms, server CPU "
            f"{at[0].cpu['servers']:.0f} % vs {at[1].cpu['servers']:.0f} %."
        )
    if core.echo and pubsub.echo:
        said.append(
            f"Echo at {ECHO_RATE}/s, p99 {fmt(core.echo.echo_p99)} vs "
            f"{fmt(pubsub.echo.echo_p99)} ms."
        )
    if p_best > r_best:
        pick = "RedisPubSubChannelLayer (higher clean rate)"
    elif r_best > p_best:
        pick = "RedisChannelLayer (higher clean rate)"
    elif at and at[1].p99 < at[0].p99:
        pick = "RedisPubSubChannelLayer (same clean rate, lower p99)"
    else:
        pick = "RedisChannelLayer (same clean rate, no better p99 from pub/sub)"
    return "Channel layer: " + " ".join(said) + f" The figures favour {pick}."


@dataclass
class Scale:
    """One pass over the servers at one size: members per room, and the variants measured."""

    members: int
    sockets: int
    variants: list[Variant]
    why: str = ""  # why this pass ran (the fallback explains itself)


def scale_heading(args: argparse.Namespace, scale: Scale) -> str:
    return f"{args.rooms} rooms x {scale.members} members = {scale.sockets:,} WebSocket clients" + (
        f" ({scale.why})" if scale.why else ""
    )


def scale_report(args: argparse.Namespace, scale: Scale, level: str) -> list[str]:
    table, notes = summary(scale.variants)
    parts = [f"{level} {scale_heading(args, scale)}", "", table, "", *[f"- {n}" for n in notes]]
    parts.append("")
    for v in scale.variants:
        parts += [f"{level}# {v.label}", ""]
        if v.failed:
            parts += [f"**Failed:** {v.failed}", ""]
        if v.ramp:
            parts += [ramp_table(v), ""]
        if v.idle_cpu:
            c = v.idle_cpu
            parts += [
                f"Idle with every socket open ({args.idle_seconds:g} s): servers "
                f"{c['servers']:.0f} % CPU (busiest thread {c['busiest_thread']:.0f} %), "
                f"PostgreSQL {c['postgres']:.0f} % ({c['pg_tps']:.0f} transactions/s), "
                f"other processes {c['other']:.0f} %.",
                "",
            ]
        if v.echo:
            e = v.echo
            parts += [
                f"Echo, one sender at {ECHO_RATE}/s for {args.echo_seconds:g} s: p50 "
                f"{fmt(e.echo_p50)} ms, p99 {fmt(e.echo_p99)} ms (ack p50 {fmt(e.ack_p50)}, p99 "
                f"{fmt(e.ack_p99)} ms), delivered {e.delivered:.2%}.",
                "",
            ]
        if v.steps:
            parts += [variant_table(v), ""]
        if v.log_notes:
            parts += [*[f"- log: {note}" for note in v.log_notes], ""]
    return parts


def section(*, command: str, args: argparse.Namespace, scales: list[Scale], cores: int) -> str:
    parts = [
        section_title(args.rooms, args.members),
        "",
        f"Measured on {datetime.now(UTC):%Y-%m-%d} at commit {git_revision()}, on a shared "
        f"machine with {cores} cores (nproc), with:",
        "",
        "```sh",
        command,
        "```",
        "",
        "Each server runs as two processes on two ports, the members of every room alternating "
        "between them (so every message crosses Redis); Redis and PostgreSQL run on the same "
        f"machine, and {args.load_procs} load-generator process(es) hold the clients. Clients "
        f"connect {args.ramp} at a time, and after each slice the idle cost of the open sockets "
        f"is measured for {args.ramp_seconds:g} s. Then one member sends {ECHO_RATE} messages a "
        "second into one room (*echo*: from its send to its own message coming back), then "
        f"steps of {args.step_seconds:g} s at a total rate spread round robin over the rooms, a "
        "random member of the room sending each message. After each step the benchmark waits "
        f"up to {args.grace:g} s for stragglers and checks that every member of every room "
        "holds every position of its room exactly once. Latency runs from the send to each "
        "member of the room (the sender included). *Clean* means: every message stored, "
        f"acknowledged and delivered exactly once, p99 under {CLEAN_P99_MS:g} ms, and at least "
        "95 % of the offered rate achieved. Stepping stops at the first step with a missing "
        f"message or a p99 over {STOP_P99_MS:g} ms.",
        "",
    ]
    for scale in scales:
        parts += scale_report(args, scale, "###")
    parts += [
        "**Caveats.** The load generator, both server processes, PostgreSQL and Redis share the "
        f"same {cores} cores, so the load generator competes with the servers it measures (its "
        "CPU use is in the tables: *load*), and latency includes its own queueing; at the peer's "
        "highest rates the load generator, not the peer, may be the limit, which makes Hearth's "
        "ratio look better than it is. The machine is shared: *other processes* is the CPU "
        "that everything else on it used meanwhile. Absolute rates and milliseconds move from "
        "run to run; compare the ratio to the peer, measured in the same run. The peer does "
        "nothing Hearth does per message (authentication, the room_access checks, the row lock, "
        "the INSERT, ordering) nor per socket (the once-a-minute re-check, presence). *busiest "
        "thread* is the hottest thread of any server process: in daphne either the event loop or "
        "a thread of the pool that runs a process's database work. PostgreSQL's transaction "
        "counters are flushed about once a second, so short windows are approximate.",
    ]
    return "\n".join(parts) + "\n"


# =============================================================================================
# Main
# =============================================================================================


def on_alarm(signum: int, frame: Any) -> None:
    raise Deadline("the overall deadline passed")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--members", type=int, default=50, help="per room (at most 50)")
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--max-rate", type=float, default=1600.0, help="messages/s, all rooms")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=list(RATES),
        help="comma-separated total rates to step through (capped by --max-rate)",
    )
    parser.add_argument("--echo-seconds", type=float, default=10.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--grace", type=float, default=5.0, help="wait for stragglers, s")
    parser.add_argument("--drain", type=float, default=15.0, help="then tell late from lost, s")
    parser.add_argument("--load-procs", type=int, default=1, help="load-generator processes")
    parser.add_argument("--batch", type=int, default=50, help="clients connecting at once")
    parser.add_argument("--ramp", type=int, default=200, help="connect this many, then measure")
    parser.add_argument("--ramp-seconds", type=float, default=4.0, help="idle measurement, s")
    parser.add_argument(
        "--only",
        default="core,pubsub,floor,peer",
        help="which servers, comma-separated: core, pubsub, floor, peer",
    )
    parser.add_argument(
        "--fallback-members",
        type=int,
        default=20,
        help="if a Hearth server cannot hold every socket, measure again with this many members "
        "per room in the same run (0: never)",
    )
    parser.add_argument("--deadline", type=float, default=1500.0, help="give up after, s")
    parser.add_argument("--keep", action="store_true", help=f"leave the {DB_NAME} database")
    parser.add_argument("--no-write", action="store_true", help="do not update the docs")
    args = parser.parse_args()
    if not 2 <= args.members <= 50:
        parser.error("--members must be from 2 to 50 (a group holds at most 50)")
    if args.rooms < args.load_procs:
        parser.error("each load-generator process needs at least one room")
    return args


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.deadline))
    files = raise_file_limit()  # inherited by the servers

    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(50))
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-rooms-"))
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "CHAT_RATE_LIMIT_BURST": "1000000",
        "STATIC_ROOT": str(work / "static"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "INFO",  # channels_redis reports dropped messages at INFO
    }
    env.pop("CHANNEL_LAYER", None)
    # This process writes the login sessions, signed with SECRET_KEY: the servers' settings.
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    wanted = [k.strip() for k in args.only.split(",") if k.strip()]
    catalogue = {
        "core": Variant(
            "core", "Hearth, RedisChannelLayer", "hearth", {**env, "CHANNEL_LAYER": "core"}
        ),
        "pubsub": Variant(
            "pubsub",
            "Hearth, RedisPubSubChannelLayer (default)",
            "hearth",
            {**env, "CHANNEL_LAYER": "pubsub"},
        ),
        "floor": Variant(
            "floor",
            "Channels floor (the peer's relay on daphne + Channels + pub/sub layer)",
            "floor",
            {k: v for k, v in env.items() if k != "DJANGO_SETTINGS_MODULE"},
        ),
        "peer": Variant("peer", "Minimal peer (websockets + Redis pub/sub)", "peer"),
    }
    variants = [catalogue[k] for k in wanted]
    cores = os.cpu_count() or 0
    nproc = len(os.sched_getaffinity(0))
    bench: Bench | None = None
    try:
        print(f"Machine: {nproc} cores (nproc; {cores} CPUs). Open files allowed: {files}.")
        print(
            "Note: the load generator, both server processes, PostgreSQL and Redis share these "
            "cores; the load generator competes with the servers."
        )
        create_database(DB_NAME, env)
        began = time.monotonic()
        members = load(rooms=args.rooms, members=args.members, now=datetime.now(UTC))
        print(
            f"Loaded {args.rooms} groups x {args.members} active members, one open session each, "
            f"{len(members):,} logins, in {time.monotonic() - began:.1f} s.",
            flush=True,
        )

        bench = Bench(args, members, work)
        scales = [Scale(args.members, len(members), variants)]
        fallback = args.fallback_members if 0 < args.fallback_members < args.members else 0
        passes = 2 if fallback else 1
        for number, variant in enumerate(variants):
            remaining = started + args.deadline - 30 - time.monotonic()
            budget_end = time.monotonic() + remaining / (passes * len(variants) - number)
            bench.run(variant, budget_end)

        held_back = [v.label for v in variants if v.kind == "hearth" and v.failed]
        if fallback and held_back:
            seen: Counter[int] = Counter()
            subset = []
            for member in members:  # the first ``fallback`` members of every room
                seen[member.room] += 1
                if seen[member.room] <= fallback:
                    subset.append(member)
            print(
                f"\n### Not every Hearth server held {len(members):,} sockets: again with "
                f"{fallback} members per room ({len(subset):,} sockets), same run.",
                flush=True,
            )
            again = [Variant(f"{v.key}-small", v.label, v.kind, dict(v.env)) for v in variants]
            bench.use_members(subset)
            scales.append(
                Scale(
                    fallback,
                    len(subset),
                    again,
                    why=f"the fallback: {', '.join(held_back)} did not hold every socket above",
                )
            )
            for number, variant in enumerate(again):
                remaining = started + args.deadline - 30 - time.monotonic()
                budget_end = time.monotonic() + remaining / (len(again) - number)
                bench.run(variant, budget_end)

        print("\n=== Summary ===")
        print(f"Machine: {nproc} cores; load generator and servers share them.")
        for scale in scales:
            print()
            print("\n".join(scale_report(args, scale, "###")))
        print(f"Took {time.monotonic() - started:.0f} s.")

        if not args.no_write:
            command = shlex.join([".venv/bin/python", "bench/rooms.py", *sys.argv[1:]])
            text = section(command=command, args=args, scales=scales, cores=nproc)
            write_section(section_title(args.rooms, args.members), text)
            print(f"Wrote {DOC.relative_to(ROOT)}.")
    except BenchError as error:
        raise SystemExit(f"\nBenchmark stopped: {error}") from None
    finally:
        signal.alarm(0)
        if bench is not None:
            bench.workers.stop()
        if "django" in sys.modules:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
        if args.keep:
            print(f"Kept the {DB_NAME} database ({DATABASE_URL}).")
        else:
            with contextlib.suppress(Exception):
                drop_database(DB_NAME)
        with contextlib.suppress(Exception):
            flush_redis()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
