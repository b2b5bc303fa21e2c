"""Hearth on several hosts (the "Beyond one machine" issue): a load balancer, two web hosts, two
worker hosts and a data host, each a network namespace of this machine (tests/cluster/), with
rooms full of people writing through the balancer.

- A web host is lost (every process on it killed): its people reconnect through the balancer
  to the other, and everyone's conversation equals the database's, with no gap and nothing
  twice.
- The Redis primary is killed and the sentinels promote the replica: the rooms go on and
  nothing is lost.
- Workers on two hosts sweep the same due reminders at once: each goes out once.

The figures (time to reconnect, messages delayed, none lost) are shown at the end of the run
(tests/cluster/conftest.py) and recorded in docs/operations.md, "Several hosts, tested". Needs
root, iproute2 and Debian's haproxy, pgbouncer, redis-server and redis-sentinel: skipped
otherwise, failed under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import websockets
from celery import Celery

from config import localdb
from tests.cluster import hosts
from tests.cluster.conftest import FIGURES
from tests.cluster.deployment import (
    REMINDERS_SCRIPT,
    ROOMS_SCRIPT,
    SITE,
    WEB_HOSTS,
    WORKER_HOSTS,
    Deployment,
    deployment,
    load,
)
from tests.conftest import settings_for

ROOMS, MEMBERS = 3, 5
EVERY = 3.0  # seconds between one person's messages: under the rate limit of 5 in 10 s
REMINDER_PEOPLE, REMINDER_SESSIONS = 20, 10  # 200 reminders due at once
WORKER_LOGS = [f"celery-{host}" for host in WORKER_HOSTS]
TIME_LIMIT = 240  # seconds for the deployment's start and both tests together
SETTLE = 6.0  # seconds of writing before and after each fault


def _refuse_or_skip(reason: str) -> None:
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but the several-host test {reason}")
    pytest.skip(f"the several-host test {reason}")


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[Callable[[], None]]:
    """Fail whatever runs once ``seconds`` have passed, unless the call yielded has ended the
    limit first (before a teardown, which must not be cut short)."""

    def overdue(signum, frame):
        raise TimeoutError(f"the several-host tests took longer than {seconds} s")

    def end() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    previous = signal.signal(signal.SIGALRM, overdue)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield end
    finally:
        end()
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Deployment]:
    """The deployment, for this module's tests: its start and the tests together are bounded
    by ``TIME_LIMIT``."""
    reason = hosts.unavailable()
    if reason:
        _refuse_or_skip(reason)
    with time_limit(TIME_LIMIT) as end, deployment() as made:
        yield made
        end()


@pytest.fixture(scope="module")
def rooms(cluster: Deployment) -> list[dict]:
    """The rooms' sessions and their members' logins."""
    return load(cluster.manage(ROOMS_SCRIPT, str(ROOMS), str(MEMBERS)))


# --- People in the rooms -------------------------------------------------------------------------


@dataclass
class Person:
    """One person's room page, as static/js/room.js behaves: writes every ``EVERY`` seconds,
    keeps what is not acknowledged and sends it again after a reconnect (same ``client_id``),
    reconnects with ``?after=<last shown>`` after a backoff of 1 s, 2 s, 4 s … plus up to 1 s
    (from 1 s again once a connection has stayed up for 10 s)."""

    name: str
    session: int
    cookie: str
    base: str
    log: list[tuple[int, str]] = field(default_factory=list)  # every message event, as received
    received_at: dict[str, float] = field(default_factory=dict)
    written_at: dict[str, float] = field(default_factory=dict)
    unacked: dict[str, str] = field(default_factory=dict)  # client_id -> body, oldest first
    tries: list[float] = field(default_factory=list)  # when each connection was asked for
    backs: list[float] = field(default_factory=list)  # when each connection's history ended
    closed: list[float] = field(default_factory=list)  # when a connection that was up closed
    refused: int = 0  # connections asked for that never came up
    rate_limited: int = 0
    errors: list[dict] = field(default_factory=list)
    socket: websockets.ClientConnection | None = None
    sending: set[asyncio.Future] = field(default_factory=set)

    @property
    def last(self) -> int:
        return self.log[-1][0] if self.log else 0

    async def live(self, writing: asyncio.Event, stop: asyncio.Event) -> None:
        attempt = 0
        writer = asyncio.create_task(self.write(writing))
        try:
            while not stop.is_set():
                self.tries.append(time.monotonic())
                with contextlib.suppress(TimeoutError, OSError, websockets.WebSocketException):
                    await self.connected(stop)
                if stop.is_set():
                    break
                now = time.monotonic()
                if self.backs and self.backs[-1] >= self.tries[-1]:
                    self.closed.append(now)
                    if now - self.backs[-1] >= 10:
                        attempt = 0
                else:
                    self.refused += 1
                await asyncio.sleep(min(15, 2**attempt) + random.random())
                attempt += 1
        finally:
            writer.cancel()

    async def connected(self, stop: asyncio.Event) -> None:
        async with websockets.connect(
            f"{self.base}/ws/sessions/{self.session}/?after={self.last}",
            origin=f"https://{SITE}",
            additional_headers={"Cookie": f"sessionid={self.cookie}"},
            open_timeout=10,
            max_queue=None,
        ) as socket:
            reading = asyncio.create_task(self.read(socket))
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.socket = None
                stopping.cancel()
                if reading.done():
                    reading.result()  # the socket's end, raised
                reading.cancel()

    async def read(self, socket) -> None:
        async for frame in socket:
            event = json.loads(frame)
            kind = event["type"]
            if kind == "message":
                self.log.append((event["position"], event["body"]))
                self.received_at.setdefault(event["body"], time.monotonic())
            elif kind == "history.end" and self.socket is None:
                self.backs.append(time.monotonic())
                self.socket = socket
                for client_id, body in list(self.unacked.items()):
                    await self.send(client_id, body)
            elif kind == "message.ack":
                self.unacked.pop(event["client_id"], None)
            elif kind == "error" and event.get("code") == "rate_limited":
                self.rate_limited += 1  # kept in unacked: sent again with the next connect
                asyncio.get_running_loop().call_later(
                    2, lambda cid=event["client_id"]: self.resend(cid)
                )
            elif kind == "error":
                self.errors.append(event)

    def resend(self, client_id: str) -> None:
        if client_id in self.unacked and self.socket is not None:
            self.sending.add(asyncio.ensure_future(self.send(client_id, self.unacked[client_id])))

    async def send(self, client_id: str, body: str) -> None:
        socket = self.socket
        if socket is None:
            return
        event = {"type": "message.send", "client_id": client_id, "body": body}
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.send(json.dumps(event))

    async def write(self, writing: asyncio.Event) -> None:
        await asyncio.sleep(random.random() * EVERY)
        number = 0
        while True:
            await writing.wait()
            body = f"{self.name} {number}"
            number += 1
            client_id = str(uuid.uuid4())
            self.written_at[body] = time.monotonic()
            self.unacked[client_id] = body
            await self.send(client_id, body)
            await asyncio.sleep(EVERY)


def delays(people: list[Person], since: float, until: float) -> list[float]:
    """For each message written between ``since`` and ``until``, the longest any person of its
    room took to receive it after it was written."""
    worst: dict[str, float] = {}
    for person in people:
        for body, written in person.written_at.items():
            if since <= written < until:
                for other in people:
                    if other.session == person.session and body in other.received_at:
                        delay = other.received_at[body] - written
                        worst[body] = max(worst.get(body, 0), delay)
    return sorted(worst.values())


def summary(values: list[float]) -> str:
    """The median and the longest, and how many took over a second."""
    if not values:
        return "none"
    return (
        f"median {statistics.median(values):.2f} s, longest {max(values):.2f} s, "
        f"{sum(v > 1 for v in values)} of {len(values)} over 1 s"
    )


async def everyone_caught_up(cluster: Deployment, people: list[Person], seconds: float) -> None:
    """Wait until nobody has anything unacknowledged and everyone shows their room's last
    message."""

    def behind() -> list[tuple[str, int, int, int]]:
        last = dict(
            cluster.sql("SELECT session_id, max(position) FROM chat_message GROUP BY session_id")
        )
        return [
            (p.name, p.last, last.get(p.session, 0), len(p.unacked))
            for p in people
            if p.unacked or p.last != last.get(p.session, 0)
        ]

    deadline = time.monotonic() + seconds
    while waiting := await asyncio.to_thread(behind):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not caught up after {seconds} s (shown, last, unacked): {waiting}"
            )
        await asyncio.sleep(0.2)


async def test_a_lost_web_host_and_a_redis_failover_lose_no_message(cluster, rooms):
    """Fifteen people in three rooms write through the balancer while web1 dies and then the
    Redis primary does; every person's conversation is the database's, whole and once."""
    people = [
        Person(f"r{r}p{n}", room["session"], cookie, cluster.socket_base)
        for r, room in enumerate(rooms)
        for n, cookie in enumerate(room["cookies"])
    ]
    writing, stop = asyncio.Event(), asyncio.Event()
    lives = [asyncio.create_task(p.live(writing, stop)) for p in people]

    async def until(condition, what: str) -> Any:
        return await asyncio.to_thread(cluster.wait_for, condition, what)

    await until(lambda: all(p.backs for p in people), "everyone to be in their room")
    per_host = {h: int(cluster.metric(h, "hearth_sockets_open")) for h in WEB_HOSTS}
    assert per_host["web1"] > 0 and per_host["web2"] > 0, per_host  # the balancer spreads them
    assert sum(per_host.values()) == len(people), per_host
    writing.set()
    quiet = time.monotonic()
    await asyncio.sleep(SETTLE)

    # A web host is lost: every process on it killed at once.
    lost_at = time.monotonic()
    await asyncio.to_thread(cluster.net.kill, "web1")

    def moved() -> list[Person]:
        return [p for p in people if p.closed and p.closed[-1] >= lost_at]

    await until(
        lambda: len(moved()) == per_host["web1"] and all(p.socket is not None for p in people),
        "the people on web1 to be back, through the balancer",
    )
    assert int(cluster.metric("web2", "hearth_sockets_open")) == len(people)
    back = [min(b for b in p.backs if b > lost_at) for p in moved()]
    reconnect = [b - lost_at for b in back]
    # Of that, the server's part: from asking for the connection to the end of the catch-up.
    serving = [b - max(t for t in p.tries if t < b) for p, b in zip(moved(), back, strict=True)]
    await asyncio.sleep(SETTLE)

    # The Redis primary is lost; the sentinels promote the replica.
    failed_at = time.monotonic()
    before = await asyncio.to_thread(cluster.redis_primary)
    cluster.started[f"redis-{before[1]}"].kill()
    after = await until(
        lambda: (found := cluster.redis_primary()) != before and found,
        "the sentinels to promote the replica",
    )
    promoted_in = time.monotonic() - failed_at
    # The web server follows: its rooms are subscribed on the new primary (not only
    # delivered from the database, as they would be were it still asking the old one).
    rooms_here = {f"{cluster.env['REDIS_NAMESPACE']}.__group__room.{r['session']}" for r in rooms}
    await until(
        lambda: rooms_here <= set(cluster.redis_channels(after)),
        "web2 to subscribe to its rooms on the new primary",
    )
    await asyncio.sleep(SETTLE)
    done_at = time.monotonic()

    writing.clear()
    await everyone_caught_up(cluster, people, 30)
    stop.set()
    await asyncio.gather(*lives)

    # Everyone's conversation is the database's: every position once, in order, nothing else.
    for room in rooms:
        stored = cluster.sql(
            "SELECT position, body FROM chat_message WHERE session_id = %s ORDER BY position",
            (room["session"],),
        )
        assert [p for p, _ in stored] == list(range(1, len(stored) + 1))
        for person in (p for p in people if p.session == room["session"]):
            assert person.log == stored, f"{person.name}'s conversation is not the database's"
    # Everything anyone wrote was stored, once; no send was refused (but for the rate limit's
    # "wait a moment", after which it was sent again).
    written = Counter(body for p in people for body in p.written_at)
    stored_bodies = Counter(
        body for (body,) in cluster.sql("SELECT body FROM chat_message WHERE author_id IS NOT NULL")
    )
    assert stored_bodies == written
    assert [p.errors for p in people if p.errors] == []
    # Only web1's people were disconnected, each once; web2's sockets stayed up throughout.
    assert sorted(len(p.closed) for p in people) == [0] * per_host["web2"] + [1] * per_host["web1"]
    # The web servers reached PostgreSQL only through PgBouncer (on the data host).
    clients = cluster.sql(
        "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE usename = %s",
        (localdb.APP_ROLE,),
        superuser=True,
    )
    assert clients == [(cluster.address("data"),)]

    FIGURES["people"] = (
        f"{len(people)} in {ROOMS} rooms, each writing every {EVERY:.0f} s; "
        f"sockets per web host {per_host}"
    )
    FIGURES["messages"] = (
        f"{sum(written.values())} written, {sum(stored_bodies.values())} stored, "
        f"lost 0, twice 0, rate-limited {sum(p.rate_limited for p in people)}"
    )
    FIGURES["reconnect after web1 is lost"] = (
        f"{summary(reconnect)} for its {len(back)} people (server's part: {summary(serving)}; "
        f"connections refused on the way: {sum(p.refused for p in people)})"
    )
    FIGURES["messages delayed while web1 is lost"] = summary(delays(people, lost_at, failed_at))
    FIGURES["Redis replica promoted"] = f"{promoted_in:.1f} s after the primary was killed"
    FIGURES["messages delayed while Redis fails over"] = summary(delays(people, failed_at, done_at))
    FIGURES["messages delayed, no fault"] = summary(delays(people, quiet, lost_at))


def test_workers_on_two_hosts_send_each_reminder_once(cluster):
    """Two sweeps on each worker host at once over the same 200 due reminders (and beat's,
    every minute): each reminder's email is accepted once, and both hosts sent some."""
    cluster.manage(REMINDERS_SCRIPT, str(REMINDER_PEOPLE), str(REMINDER_SESSIONS))
    owed = REMINDER_PEOPLE * REMINDER_SESSIONS
    cluster.mail.delay = 0.01  # a relay's pace, so that the sweeps overlap
    conf = settings_for(**cluster.env)
    app = Celery("hearth-cluster-test", broker=conf["CELERY_BROKER_URL"], set_as_current=False)
    app.conf.broker_transport_options = conf["CELERY_BROKER_TRANSPORT_OPTIONS"]
    try:
        # Both workers are listening (after a Redis failover, once they have found the new
        # primary), so that neither finds the work done before it starts.
        cluster.wait_for(
            lambda: len(app.control.ping(timeout=1)) == len(WORKER_HOSTS),
            "both workers to answer through the broker",
            *WORKER_LOGS,
        )
        tasks = [
            app.send_task("groups.tasks.send_due_reminders", queue=host).id
            for host in WORKER_HOSTS * 2
        ]
    finally:
        app.close()

    def sent_by_host() -> dict[str, int]:
        """What each host's sweeps sent, as their workers logged it."""
        return {
            host: sum(
                int(line.rsplit(":", 1)[1])
                for line in cluster.log(f"celery-{host}").read_text().splitlines()
                if "send_due_reminders[" in line and "succeeded" in line
            )
            for host in WORKER_HOSTS
        }

    def done() -> bool:
        logs = "".join(cluster.log(f"celery-{host}").read_text() for host in WORKER_HOSTS)
        return (
            all(f"[{task}] succeeded" in logs for task in tasks)
            and sum(sent_by_host().values()) == owed
        )

    cluster.wait_for(done, f"the sweeps to send {owed} reminders", *WORKER_LOGS, seconds=80)
    sent = cluster.sql(
        "SELECT r.id, u.email FROM groups_reminder r JOIN accounts_user u ON u.id = r.user_id "
        "WHERE r.sent_at IS NOT NULL"
    )
    accepted = {key: n for key, n in cluster.mail.accepted.items() if "<reminder-" in key[0]}
    assert len(sent) == owed
    assert accepted == {(f"<reminder-{pk}@hearth>", address): 1 for pk, address in sent}
    by_host = sent_by_host()
    assert all(by_host.values()), f"a worker host sent none: {by_host}"
    FIGURES["reminders"] = (
        f"{owed} due, {len(accepted)} emails accepted, each once; sent by host {by_host}"
    )
