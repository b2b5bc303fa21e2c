"""Throughput of the group pages on a large data set, as ratios to a trivial view.

Creates the PostgreSQL database ``hearth_bench``, loads 10,000 groups, 100,000 sessions and
200,000 enrollments, serves the app with daphne under production settings and measures each
page against ``/ping/`` (a view that touches no database) served by the same server in the
same run. The machine is shared, so the ratios are the result; absolute figures only give
the scale. Run from the repository root::

    .venv/bin/python bench/groups_pages.py [--seconds 8] [--rounds 3] [--groups 10000]
        [--pages directory,directory-client] [--database hearth_bench] [--keep] [--no-write]
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import shlex
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (  # bench/ is first on sys.path: the benchmarks run as scripts
    DOC,
    PG_SERVER,
    create_database,
    insert,
    measured_on,
    release_database,
    write_section,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DAPHNE = str(Path(PYTHON).with_name("daphne"))

DB_NAME = "hearth_bench"
REDIS_URL = "redis://127.0.0.1:6379/2"

GROUPS = 10_000
SESSIONS_PER_GROUP = 10
SESSION = timedelta(hours=1)
ENROLLMENTS_PER_GROUP = 20
# Every facilitator leads GROUPS_PER_FACILITATOR groups and there are two clients per group,
# whatever the number of groups: a smaller data set has the same shape (each group meets as
# often, each client is in ten groups), only fewer of everything.
GROUPS_PER_FACILITATOR = 50
CLIENTS_PER_GROUP = 2
VIEWER_GROUPS = 20
# Seats per group, in turn: the first two are full with a waiting list, the third exactly
# full, the last two have free places (so the "free places" filter keeps two groups in five).
CAPACITIES = (12, 16, 20, 24, 30)
LANGUAGE_CYCLE = ("en", "en", "en", "en", "es", "fr", "de", "nl")


# --- The database ------------------------------------------------------------------------------


@dataclass
class Personas:
    viewer: Any  # a client in VIEWER_GROUPS groups
    facilitator: Any  # a therapist with two-step login who leads GROUPS_PER_FACILITATOR groups
    viewer_group_slug: str
    managed_group_slug: str


def section_title(groups: int, cpu: int | None = None) -> str:
    """The heading of this benchmark's section of the doc: one section per data size, and
    per way of running daphne (on any core, or pinned to one)."""
    pinned = "" if cpu is None else ", daphne on one core"
    return (
        f"## Group pages ({groups:,} groups, {groups * SESSIONS_PER_GROUP:,} sessions, "
        f"{groups * ENROLLMENTS_PER_GROUP:,} enrollments{pinned})"
    )


def load(now: datetime, groups_count: int = GROUPS) -> Personas:
    """Load ``groups_count`` groups (a multiple of GROUPS_PER_FACILITATOR and of VIEWER_GROUPS)
    and everything around them through the ORM; returns the people the pages are measured as."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.contrib.auth.models import Group as RoleGroup
    from django.contrib.auth.models import Permission
    from django.db import transaction

    from accounts.models import GuidelinesAcceptance, GuidelinesVersion, User
    from accounts.roles import Role
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

    facilitator_count = groups_count // GROUPS_PER_FACILITATOR
    client_count = groups_count * CLIENTS_PER_GROUP

    with transaction.atomic():
        facilitators = insert(
            User,
            (
                person(f"facilitator{i}@bench.hearth.example", f"Facilitator {i}")
                for i in range(facilitator_count)
            ),
        )
        clients = insert(
            User,
            (person(f"client{i}@bench.hearth.example", f"Member {i}") for i in range(client_count)),
        )
        viewer = User.objects.create(
            email="viewer@bench.hearth.example",
            display_name="Bench Viewer",
            password="!",
            time_zone="Europe/London",
        )

        topics = list(Topic.objects.exclude(slug="clinical-practice"))
        clinical = Topic.objects.get(slug="clinical-practice")

        # Facilitator f of F (200 with 10,000 groups) leads groups f, f + F, f + 2F, …; their
        # k-th session starts 2k hours after ``base`` and lasts an hour, so no two of their
        # live sessions overlap (PostgreSQL's session_no_overlap_per_facilitator refuses that).
        # Session j of the m-th group is k = j * 50 + m: each group meets about every four
        # days, from three days ago to about 39 days ahead.
        base = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
        per_facilitator = GROUPS_PER_FACILITATOR

        def schedule(i: int) -> list[tuple[datetime, bool]]:
            """Group i's sessions, each an hour long: (start, whether it is cancelled)."""
            f, m = i % facilitator_count, i // facilitator_count
            return [
                (
                    base + timedelta(hours=2 * (j * per_facilitator + m) + f % 2),
                    (i * SESSIONS_PER_GROUP + j) % 20 == 7,
                )
                for j in range(SESSIONS_PER_GROUP)
            ]

        def group(i: int) -> TherapyGroup:
            if i % 10 == 9:
                kind, topic = TherapyGroup.Kind.PEER_SUPERVISION, clinical
            else:
                kind = TherapyGroup.Kind.THERAPY if i % 10 < 3 else TherapyGroup.Kind.SUPPORT
                topic = topics[i % len(topics)]
            next_start = next(
                (s for s, cancelled in schedule(i) if not cancelled and s + SESSION > now), None
            )
            return TherapyGroup(
                title=f"{topic.name} group {i:05d}",
                slug=f"group-{i}",
                topic=topic,
                kind=kind,
                description=(
                    "A steady, small group that meets at the same time each week. We listen "
                    "more than we advise, and nobody has to speak until they are ready. "
                    f"This is group number {i}, kept here so that each description differs."
                ),
                facilitator_id=facilitators[i % facilitator_count].pk,
                capacity=CAPACITIES[i % len(CAPACITIES)],
                language=LANGUAGE_CYCLE[i % len(LANGUAGE_CYCLE)],
                is_listed=i % 8 != 5,
                is_closed=kind == TherapyGroup.Kind.PEER_SUPERVISION or i % 7 == 3,
                time_zone="Europe/London",
                # The rows go in behind the services' back: store what they would have.
                next_session_starts_at=next_start,
                next_session_closes_at=next_start + SESSION if next_start else None,
                seats_taken=min(CAPACITIES[i % len(CAPACITIES)], ENROLLMENTS_PER_GROUP),
            )

        groups = insert(TherapyGroup, (group(i) for i in range(groups_count)))

        def sessions() -> Iterator[GroupSession]:
            for i, g in enumerate(groups):
                for starts, cancelled in schedule(i):
                    yield GroupSession(
                        group_id=g.pk,
                        facilitator_id=g.facilitator_id,
                        starts_at=starts,
                        ends_at=starts + SESSION,
                        cancelled_at=now - timedelta(days=1) if cancelled else None,
                        cancel_reason="The facilitator is unwell." if cancelled else "",
                    )

        insert(GroupSession, sessions())

        # Slot s of group g holds client (s * stride + g) % clients (stride 1,000 of 20,000
        # clients with 10,000 groups): distinct within a group, and every client ends up in
        # ten groups. The viewer takes slot 0 of VIEWER_GROUPS groups.
        viewer_groups = set(range(0, groups_count, groups_count // VIEWER_GROUPS))
        stride = client_count // ENROLLMENTS_PER_GROUP

        def enrollments() -> Iterator[Enrollment]:
            for i, g in enumerate(groups):
                for s in range(ENROLLMENTS_PER_GROUP):
                    u = (s * stride + i) % client_count
                    who, name = (
                        (viewer, "Member viewer")
                        if s == 0 and i in viewer_groups
                        else (clients[u], f"Member {u}")
                    )
                    active = s < g.capacity
                    yield Enrollment(
                        group_id=g.pk,
                        user_id=who.pk,
                        state=Enrollment.State.ACTIVE if active else Enrollment.State.WAITLISTED,
                        waitlist_position=None if active else s - g.capacity + 1,
                        pseudonym=name,
                        activated_at=now - timedelta(days=10) if active else None,
                    )

        insert(Enrollment, enrollments())

        permissions = list(
            Permission.objects.filter(
                content_type__app_label="groups",
                content_type__model="therapygroup",
                codename__in=FACILITATOR_RIGHTS,
            )
        )
        assert len(permissions) == len(FACILITATOR_RIGHTS), permissions
        insert(
            TherapyGroupUserObjectPermission,
            (
                TherapyGroupUserObjectPermission(
                    user_id=g.facilitator_id, content_object_id=g.pk, permission=p
                )
                for g in groups
                for p in permissions
            ),
        )

        # Everyone here leads or joined groups, so has accepted the guidelines in force (Hearth
        # asks before anyone joins); otherwise every page would carry the banner asking them to.
        guidelines = GuidelinesVersion.objects.filter(published_at__isnull=False).first()
        assert guidelines is not None, "the migrations publish the first guidelines"
        insert(
            GuidelinesAcceptance,
            (
                GuidelinesAcceptance(user=person, version=guidelines)
                for person in (*facilitators, *clients, viewer)
            ),
        )

        # The measured facilitator is a therapist with two-step login set up (otherwise the
        # MFA middleware sends them to set it up instead of showing the page).
        lead = facilitators[0]
        lead.groups.add(RoleGroup.objects.get(name=Role.THERAPIST.value))
        TOTP.activate(lead, generate_totp_secret())

    viewer_group = next(
        g
        for i, g in enumerate(groups)
        if i in viewer_groups and g.is_listed and g.kind != TherapyGroup.Kind.PEER_SUPERVISION
    )
    return Personas(
        viewer=viewer,
        facilitator=lead,
        viewer_group_slug=viewer_group.slug,
        managed_group_slug=groups[facilitator_count].slug,  # lead's second group
    )


def check_listing(now: datetime) -> None:
    """Stop unless every group's row holds the next session and places the services would
    have stored (the data goes in behind their back)."""
    from groups.models import Enrollment, GroupSession, TherapyGroup

    nexts = {
        s.group_id: s.starts_at
        for s in GroupSession.objects.upcoming(now)
        .order_by("group_id", "starts_at")
        .distinct("group_id")
    }
    taken: dict[int, int] = {}
    for group_id in Enrollment.objects.filter(state="active").values_list("group_id", flat=True):
        taken[group_id] = taken.get(group_id, 0) + 1
    for group in TherapyGroup.objects.only("next_session_starts_at", "seats_taken"):
        stored = (group.next_session_starts_at, group.seats_taken)
        if stored != (nexts.get(group.pk), taken.get(group.pk, 0)):
            raise SystemExit(f"group {group.pk} holds {stored}, not what the services store")


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def counts() -> dict[str, int]:
    from accounts.models import User
    from groups.models import Enrollment, GroupSession, TherapyGroup

    return {
        "groups": TherapyGroup.objects.count(),
        "sessions": GroupSession.objects.count(),
        "enrollments": Enrollment.objects.count(),
        "people": User.objects.count(),
    }


def login_cookie(user: Any) -> str:
    """A logged-in session written straight to the session table, and listed in the person's
    devices as a login through allauth's form lists it, as a Cookie header value, with the
    CSRF cookie a browser that logged in through the form holds (without it, every page would
    make a new CSRF secret and send it back in a Set-Cookie)."""
    from importlib import import_module

    from allauth.usersessions.models import UserSession
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH
    from django.utils.crypto import get_random_string

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]  # as login() leaves it
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store["hearth_login_at"] = time.time()  # the absolute-timeout middleware reads it
    store.create()
    UserSession.objects.create(
        user=user, session_key=store.session_key, ip="127.0.0.1", user_agent="bench"
    )
    csrf_secret = get_random_string(CSRF_SECRET_LENGTH, CSRF_ALLOWED_CHARS)
    return (
        f"{settings.SESSION_COOKIE_NAME}={store.session_key}; "
        f"{settings.CSRF_COOKIE_NAME}={csrf_secret}"
    )


# --- The server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_daphne(
    env: dict[str, str], port: int, log: Path, target: str = "config.asgi:application"
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        server = subprocess.Popen(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(port), target],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"daphne exited with {server.returncode}:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ping/")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit(f"daphne did not answer /ping/ within 60 s:\n{log.read_text()}")


def pin(pid: int, cpu: int) -> None:
    """Every thread of process ``pid`` (and any it starts later) on core ``cpu`` only."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        os.sched_setaffinity(int(task.name), {cpu})


def stop(server: subprocess.Popen[bytes] | None) -> None:
    if server is None or server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- The load ----------------------------------------------------------------------------------


@dataclass
class Page:
    key: str  # what --pages selects it by
    label: str
    path: str
    cookies: list[str] = field(default_factory=list)  # one per worker; none when anonymous
    rps: list[float] = field(default_factory=list)  # one per round
    latencies: list[float] = field(default_factory=list)  # seconds, every round together
    cpu: list[float] = field(default_factory=list)  # the server's CPU seconds per request, a round
    answered: int = 0  # responses in the last hammer() of this page, its warm-up's too


class BadResponse(Exception):
    pass


def get(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        conn.close()  # the server closed the kept-alive connection: open a new one once
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        location = response.getheader("Location", "")
        text = body[:300].decode(errors="replace")
        raise BadResponse(f"GET {path} answered {response.status} {location}\n{text}")
    return response.status


def hammer(port: int, page: Page, *, warmup: float, seconds: float, workers: int) -> list[float]:
    """Closed loop: each worker sends its next request as soon as the last one is answered.

    The workers run for ``warmup + seconds`` without a pause; only the 200 responses that
    arrive in the last ``seconds`` count, so the window sees the server in a steady state
    (connections open, caches and query plans warm). Returns their latencies.
    """
    ready = threading.Barrier(workers + 1)
    counted: list[list[float]] = [[] for _ in range(workers)]
    answered = [0] * workers  # every response, the warm-up's too
    errors: list[BaseException] = []
    window = [0.0, 0.0]  # when counting starts and ends, set before the workers are released

    def work(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Cookie": page.cookies[n]} if page.cookies else {}
        ready.wait()
        opens, closes = window
        try:
            while not errors:
                began = time.perf_counter()
                if began >= closes:
                    break
                get(conn, page.path, headers)
                answered[n] += 1
                ended = time.perf_counter()
                if opens <= ended <= closes:
                    counted[n].append(ended - began)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    window[:] = [now + warmup, now + warmup + seconds]
    ready.wait()
    for thread in threads:
        thread.join()
    if errors:
        raise BadResponse(f"{page.label}: {errors[0]}")
    page.answered = sum(answered)
    return [latency for worker in counted for latency in worker]


def server_cpu(pid: int) -> float:
    """The CPU seconds (user and system) process ``pid`` has used (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    port: int, pages: list[Page], *, seconds: float, rounds: int, workers: int, pid: int
) -> None:
    """Every page once per round, in turn, so that drift on the machine hits all of them.

    Beside the throughput, the server's own CPU time per request it answered, warm-up
    included (what a page costs the process, whatever else the machine does)."""
    for number in range(1, rounds + 1):
        for page in pages:
            used = server_cpu(pid)
            latencies = hammer(port, page, warmup=1.0, seconds=seconds, workers=workers)
            used = server_cpu(pid) - used
            page.rps.append(len(latencies) / seconds)
            page.latencies.extend(latencies)
            page.cpu.append(used / page.answered if page.answered else float("nan"))
            print(
                f"  round {number}/{rounds}  {page.rps[-1]:8.1f} req/s  "
                f"{page.cpu[-1] * 1000:5.2f} ms CPU  {page.label}"
            )


def percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def table(pages: list[Page]) -> str:
    baseline = statistics.median(pages[0].rps)
    lines = [
        "| Page | Requests/s | Ratio to /ping/ | Server CPU ms a request | p50 ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for page in pages:
        rps = statistics.median(page.rps)
        lines.append(
            f"| {page.label} | {rps:.1f} | {rps / baseline:.3f} | "
            f"{statistics.median(page.cpu) * 1000:.2f} | "
            f"{percentile(page.latencies, 50) * 1000:.1f} | "
            f"{percentile(page.latencies, 95) * 1000:.1f} |"
        )
    return "\n".join(lines)


# --- The report --------------------------------------------------------------------------------


def section(
    *, title: str, command: str, result: str, sizes: dict[str, int], cores: int, settings: str
) -> str:
    loaded = (
        f"Data loaded: {sizes['groups']:,} groups, {sizes['sessions']:,} sessions, "
        f"{sizes['enrollments']:,} enrollments, {sizes['people']:,} people. {settings}"
    )
    return f"""{title}

{measured_on(command=command, cores=cores)}

{textwrap.fill(loaded, width=96)}

{result}

**What the ratio means.** Each page's throughput is divided by the throughput of `/ping/`, a
view that answers "ok" without touching the database, served by the same daphne process in the
same run. A ratio of 0.25 means the server answers this page a quarter as often as `/ping/`:
each request for it costs about four times a request that does nothing. The pages are
measured in turn, several rounds over, and the median round is reported, so that anything
else the machine was doing at the time slows all of them alike.

**Why ratios.** The benchmark runs on a shared two-core machine that also runs PostgreSQL and
the load generator, so absolute requests per second move from run to run and from machine to
machine. The ratio to the baseline is what stays comparable: if a change makes a page's ratio
fall, the page got slower, whatever the machine. The p50 and p95 latencies are there to show
the scale, not to be compared across runs. The server's CPU per request (its user and system
time over a page's window, divided by the requests it answered) is what the page costs the
process; a page whose ratio is lower than its CPU suggests left the process waiting (on the
database, with only a few connections).
"""


# --- Main --------------------------------------------------------------------------------------

PAGE_KEYS = (
    "ping-logged-in",
    "home",
    "directory",
    "directory-client",
    "directory-filtered",
    "group-anonymous",
    "group",
    "schedule",
    "facilitate",
    "manage",
)


def page_keys(text: str) -> list[str]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = sorted(set(keys) - set(PAGE_KEYS))
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown page {', '.join(unknown) or '(none)'}; choose from {', '.join(PAGE_KEYS)}"
        )
    return keys


def group_count(text: str) -> int:
    n = int(text)
    step = GROUPS_PER_FACILITATOR * VIEWER_GROUPS
    if n < step or n % step:
        raise argparse.ArgumentTypeError(f"the number of groups must be a multiple of {step}")
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per page and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent connections")
    parser.add_argument(
        "--groups", type=group_count, default=GROUPS, help="groups to load (a multiple of 1000)"
    )
    parser.add_argument(
        "--pages",
        type=page_keys,
        default=list(PAGE_KEYS),
        help=f"pages to measure beside /ping/, comma-separated: {','.join(PAGE_KEYS)}",
    )
    parser.add_argument(
        "--cpu",
        type=int,
        default=None,
        help="pin daphne (every thread) to this core, as docs/operations.md advises for each "
        "web process; PostgreSQL and the load generator keep the others",
    )
    parser.add_argument("--database", default=DB_NAME, help="the database to create, use and drop")
    parser.add_argument("--keep", action="store_true", help="leave the database in place")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    if set(args.pages) != set(PAGE_KEYS) and not args.no_write:
        parser.error("--pages needs --no-write: the doc's section lists every page")

    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(50))
    work = Path(tempfile.mkdtemp(prefix="hearth-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"{PG_SERVER}/{args.database}",
        "REDIS_URL": REDIS_URL,
        "DEBUG": "0",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(work / "static"),  # the manifest that DEBUG=0 needs, outside the repo
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
    }
    # This process writes the login sessions, which are signed with SECRET_KEY: same settings.
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))

    server: subprocess.Popen[bytes] | None = None
    try:
        create_database(args.database, env)

        print("Loading the data …")
        began = time.monotonic()
        loaded_at = datetime.now(UTC)
        personas = load(loaded_at, args.groups)
        check_listing(loaded_at)
        analyze()
        sizes = counts()
        print(
            f"Loaded in {time.monotonic() - began:.0f} s: {sizes['groups']:,} groups, "
            f"{sizes['sessions']:,} sessions, {sizes['enrollments']:,} enrollments, "
            f"{sizes['people']:,} people."
        )

        # One session per worker, as if several people were logged in as this persona.
        as_viewer = [login_cookie(personas.viewer) for _ in range(args.concurrency)]
        as_lead = [login_cookie(personas.facilitator) for _ in range(args.concurrency)]

        from django.db import connections

        connections.close_all()

        port = free_port()
        print(f"Starting daphne on 127.0.0.1:{port} …")
        server = start_daphne(env, port, work / "daphne.log")
        if args.cpu is not None:
            pin(server.pid, args.cpu)

        every_page = [
            # What every logged-in page costs before its own work: the session, the person.
            Page("ping-logged-in", "`/ping/` as a client (the login alone)", "/ping/", as_viewer),
            Page("home", "`/` anonymous", "/"),
            Page("directory", "`/groups/` anonymous", "/groups/"),
            Page("directory-client", "`/groups/` as a client", "/groups/", as_viewer),
            Page(
                "directory-filtered",
                "`/groups/?weekday=3&time_of_day=evening&seats=on` as a client",
                "/groups/?weekday=3&time_of_day=evening&seats=on",
                as_viewer,
            ),
            Page(
                "group-anonymous",
                "`/groups/<slug>/` anonymous",
                f"/groups/{personas.viewer_group_slug}/",
            ),
            Page(
                "group",
                "`/groups/<slug>/` as a member",
                f"/groups/{personas.viewer_group_slug}/",
                as_viewer,
            ),
            Page("schedule", "`/schedule/` as a client in 20 groups", "/schedule/", as_viewer),
            Page(
                "facilitate",
                "`/facilitate/` as a facilitator of 50 groups",
                "/facilitate/",
                as_lead,
            ),
            Page(
                "manage",
                "`/groups/<slug>/manage/` as its facilitator",
                f"/groups/{personas.managed_group_slug}/manage/",
                as_lead,
            ),
        ]
        pages = [Page("ping", "`/ping/` (baseline)", "/ping/")] + [
            page for page in every_page if page.key in args.pages
        ]
        print(
            f"Measuring {len(pages)} pages: {args.rounds} rounds of {args.seconds:g} s each, "
            f"{args.concurrency} concurrent connections …"
        )
        try:
            measure(
                port,
                pages,
                seconds=args.seconds,
                rounds=args.rounds,
                workers=args.concurrency,
                pid=server.pid,
            )
        except BadResponse as error:
            log = (work / "daphne.log").read_text(errors="replace").splitlines()
            print("\n".join(["daphne's log, last lines:", *log[-60:]]), file=sys.stderr)
            raise SystemExit(f"A page did not answer 200: {error}") from None

        cores = len(os.sched_getaffinity(0))
        result = table(pages)
        print()
        print(f"Machine: {cores} cores (nproc). Data: {sizes}")
        print()
        print(result)

        command = shlex.join([".venv/bin/python", "bench/groups_pages.py", *sys.argv[1:]])
        where = "" if args.cpu is None else f" pinned to core {args.cpu}, every thread,"
        settings = (
            f"Served by one daphne process{where} (DEBUG=0, PostgreSQL, Redis), "
            f"{args.concurrency} "
            f"concurrent keep-alive connections, {args.rounds} rounds of {args.seconds:g} s "
            "per page after a 1 s warm-up. The client is in 20 groups; the facilitator leads "
            "50 and is a therapist with two-step login."
        )
        if not args.no_write:
            title = section_title(args.groups, args.cpu)
            write_section(
                title,
                section(
                    title=title,
                    command=command,
                    result=result,
                    sizes=sizes,
                    cores=cores,
                    settings=settings,
                ),
            )
            print(f"\nWrote {DOC.relative_to(ROOT)}.")
    finally:
        stop(server)
        release_database(args.database, keep=args.keep)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
