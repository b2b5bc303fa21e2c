"""A Hearth deployment on several hosts (tests/cluster/hosts.py), as docs/operations.md lays one
out: a load balancer (HAProxy), two web hosts (daphne), two worker hosts (Celery workers, beat
on the first), and a data host (PostgreSQL behind PgBouncer in transaction mode, a Redis
primary and its replica), with three Redis Sentinels on three hosts.

Every Hearth process gets the same production environment (``DEBUG=0``, a secret key, the
pooler, the sentinels, a pinned Redis namespace, SMTP to the test's mail server). The test's
clients and mail server are on this (the root) namespace's address on the bridge.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from config import localdb
from tests.cluster.hosts import Network
from tests.smtp import MailServer, running_mail_server
from tests.tools import open_folder, program

ROOT = Path(__file__).resolve().parents[2]
HOSTS = {"lb": 2, "web1": 11, "web2": 12, "worker1": 21, "worker2": 22, "data": 30}
WEB_HOSTS = ("web1", "web2")
WORKER_HOSTS = ("worker1", "worker2")
SENTINEL_HOSTS = ("data", "lb", "worker1")
MASTER = "hearth"
SITE = "hearth.test"
PATIENCE = 60  # seconds for any one thing to start; every wait polls


def programs() -> dict[str, str]:
    """The Debian programs the deployment runs (skipped, or failed under REQUIRE_SERVICES=1,
    without one)."""
    return {
        "haproxy": program("haproxy", package="haproxy"),
        "pgbouncer": program("pgbouncer", package="pgbouncer"),
        "redis-server": program("redis-server", package="redis-server"),
        "redis-sentinel": program("redis-sentinel", package="redis-sentinel"),
    }


def wait_for(condition: Callable[[], Any], what: str, seconds: float = PATIENCE) -> Any:
    """Poll ``condition`` until it is truthy (errors count as not yet)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            result = condition()
            if result:
                return result
        except (OSError, redis.RedisError, psycopg.Error):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        time.sleep(0.1)


def listening(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((address, port)) == 0


@dataclass
class Deployment:
    net: Network
    folder: Path
    env: dict[str, str]  # every Hearth process's environment
    owner_url: str  # the database as its owner, straight to PostgreSQL (not through PgBouncer)
    mail: MailServer
    started: dict[str, subprocess.Popen] = field(default_factory=dict)  # by log name

    def start(self, host: str, args: list[str], name: str, **options: Any) -> subprocess.Popen:
        """Start ``args`` on ``host``, logging to ``<name>.log``."""
        options.setdefault("env", {"LANG": "C.UTF-8"})
        self.started[name] = self.net.start(host, args, log=self.log(name), **options)
        return self.started[name]

    def address(self, host: str) -> str:
        return self.net.hosts[host].address

    @property
    def socket_base(self) -> str:
        """Where the clients connect: the load balancer."""
        return f"ws://{self.address('lb')}"

    def wait_for(
        self, condition: Callable[[], Any], what: str, *logs: str, seconds: float = PATIENCE
    ) -> Any:
        """``wait_for``, failing with the end of the logs named (of every log if none)."""
        try:
            return wait_for(condition, what, seconds)
        except AssertionError as failure:
            raise AssertionError(f"{failure}\n{self.logs(*logs)}") from None

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def logs(self, *names: str, tail: int = 3000) -> str:
        """The end of each log named (every log if none), for a failure's message."""
        paths = [self.log(n) for n in names] or sorted(self.folder.glob("*.log"))
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-tail:]}" for p in paths if p.exists()
        )

    def hearth(self, host: str, args: list[str], name: str) -> subprocess.Popen:
        """Start a Hearth command (``python -m ...``) on ``host``."""
        return self.start(host, [sys.executable, *args], name, env=self.env, cwd=ROOT)

    def manage(self, script: str, *args: str, timeout: float = 120) -> str:
        """Run Python with Django set up, from this namespace as the database's owner (as an
        operator's one-off command does); returns what it printed."""
        env = {**self.env, "DATABASE_URL": self.owner_url, "DATABASE_POOLER": ""}
        done = subprocess.run(
            [sys.executable, "-c", "import django; django.setup()\n" + script, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise AssertionError(f"the script failed:\n{done.stderr[-4000:]}")
        return done.stdout

    def sql(self, query: str, params: tuple = (), *, superuser: bool = False) -> list[tuple]:
        """Rows from the database, read as its owner (or as the server's superuser, who sees
        every connection's address)."""
        url = self.owner_url
        if superuser:
            url = url.replace(f"//{localdb.OWNER_ROLE}@", f"//{localdb.SUPERUSER}@")
        with psycopg.connect(url, autocommit=True) as connection:
            return connection.execute(query, params).fetchall()

    def redis_primary(self) -> tuple[str, int]:
        """Where the sentinels say the Redis primary is."""
        watcher = redis.Redis(self.address("lb"), 26379, decode_responses=True, socket_timeout=2)
        try:
            host, port = watcher.sentinel_get_master_addr_by_name(MASTER)
        finally:
            watcher.close()
        return host, int(port)

    def redis_channels(self, server: tuple[str, int]) -> list[str]:
        """The Hearth pub/sub channels subscribed to on a Redis server."""
        client = redis.Redis(*server, decode_responses=True, socket_timeout=2)
        try:
            return client.pubsub_channels(f"{self.env['REDIS_NAMESPACE']}.*")
        finally:
            client.close()

    def backends(self) -> dict[str, str]:
        """Each web server's state as HAProxy sees it (``UP``, ``DOWN`` …)."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(5)
            stats.connect(str(self.folder / "haproxy.sock"))
            stats.sendall(b"show stat\n")
            text = b""
            while chunk := stats.recv(65536):
                text += chunk
        rows = csv.DictReader(io.StringIO(text.decode().lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "web"}

    def metric(self, host: str, name: str) -> float:
        """A metric of the web server on ``host``, scraped on its own address."""
        with socket.create_connection((self.address(host), 8000), timeout=5) as conn:
            request = f"GET /metrics HTTP/1.0\r\nHost: {SITE}\r\nX-Forwarded-Proto: https\r\n\r\n"
            conn.sendall(request.encode())
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        for line in answer.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError(f"{name} not in /metrics of {host}: {answer[:300]!r}")


@contextlib.contextmanager
def deployment() -> Iterator[Deployment]:
    """The whole deployment, up and migrated; everything is gone again on leaving."""
    binaries = programs()
    with (
        open_folder() as folder,
        Network(HOSTS) as net,
        running_mail_server(net.address) as mail,
    ):
        data = net.hosts["data"].address
        owner_url = f"postgres://{localdb.OWNER_ROLE}@{data}:5432/hearth"
        sentinels = ",".join(f"{net.hosts[h].address}:26379" for h in SENTINEL_HOSTS)
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": f"{SITE},{net.hosts['lb'].address}",
            "CSRF_TRUSTED_ORIGINS": f"https://{SITE}",
            "SITE_URL": f"https://{SITE}",
            "TRUST_X_FORWARDED_PROTO": "1",
            "DATABASE_URL": f"postgres://{localdb.APP_ROLE}@{data}:6432/hearth",
            "DATABASE_POOLER": "pgbouncer",
            "DATABASE_APP_ROLE": localdb.APP_ROLE,
            "REDIS_URL": "redis://primary/0",  # the sentinels say where the primary is
            "REDIS_SENTINELS": sentinels,
            "REDIS_MASTER_NAME": MASTER,
            "REDIS_NAMESPACE": "hearth-cluster",
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": net.address,
            "EMAIL_PORT": str(mail.port),
            "EMAIL_USE_TLS": "0",
            "METRICS_ALLOWED_NETWORKS": str(net.subnet),
            # Batches of 20 rather than 100: the 200 reminders are ten batches, which sweeps
            # on both worker hosts take in turn.
            "REMINDER_SEND_BATCH": "20",
            "HEARTH_VAR_DIR": str(folder / "var"),
        }
        here = Deployment(net=net, folder=folder, env=env, owner_url=owner_url, mail=mail)
        _start_postgres(here)
        _start_pgbouncer(here, binaries["pgbouncer"])
        _start_redis(here, binaries["redis-server"], binaries["redis-sentinel"])
        migrated = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env={**env, "DATABASE_URL": owner_url, "DATABASE_POOLER": ""},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert migrated.returncode == 0, migrated.stderr[-4000:]
        _start_web(here)
        _start_haproxy(here, binaries["haproxy"])
        _start_workers(here)
        yield here


def _start_postgres(here: Deployment) -> None:
    """A PostgreSQL of its own on the data host (the embedded server's binaries, run as its
    system user), with Hearth's two roles and database."""
    user = localdb.server_user()
    data_dir, sockets = here.folder / "pgdata", here.folder / "pgsock"
    for path in (data_dir, sockets):
        path.mkdir(mode=0o700)
        if user is not None:
            os.chown(path, user.pw_uid, user.pw_gid)
    initdb = subprocess.run(
        [localdb.pg_bin("initdb"), "-D", str(data_dir), "-U", localdb.SUPERUSER, "--auth=trust",
         "--encoding=UTF8", "--locale=C"],
        capture_output=True, text=True, timeout=120, cwd="/",
        **({"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if user else {}),
    )  # fmt: skip
    assert initdb.returncode == 0, initdb.stderr
    (data_dir / "pg_hba.conf").write_text(
        f"local all all trust\nhost all all {here.net.subnet} trust\n"
    )
    address = here.address("data")
    here.start(
        "data",
        [localdb.pg_bin("postgres"), "-D", str(data_dir), "-c", f"listen_addresses={address}",
         "-k", str(sockets), "-c", "max_connections=200",
         # What is under test is the network between the hosts, not the disk.
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
        "postgres", user=user,
    )  # fmt: skip
    superuser = f"postgres://{localdb.SUPERUSER}@{address}:5432/postgres"
    here.wait_for(
        lambda: psycopg.connect(superuser).close() or True,
        "PostgreSQL on the data host",
        "postgres",
    )
    with psycopg.connect(superuser, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {localdb.OWNER_ROLE} LOGIN")
        admin.execute(f"CREATE ROLE {localdb.APP_ROLE} LOGIN")
        admin.execute(f"CREATE DATABASE hearth OWNER {localdb.OWNER_ROLE}")
        admin.execute("ALTER DATABASE hearth SET jit = off")  # as docs/operations.md says


def _start_pgbouncer(here: Deployment, binary: str) -> None:
    address = here.address("data")
    (here.folder / "pgbouncer-users.txt").write_text(
        f'"{localdb.APP_ROLE}" ""\n"{localdb.OWNER_ROLE}" ""\n'
    )
    (here.folder / "pgbouncer.ini").write_text(
        f"[databases]\nhearth = host={address} port=5432 dbname=hearth\n\n[pgbouncer]\n"
        f"listen_addr = {address}\nlisten_port = 6432\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {here.folder / 'pgbouncer-users.txt'}\n"
        "pool_mode = transaction\nmax_client_conn = 500\ndefault_pool_size = 20\n"
    )
    here.start(
        "data",
        [binary, str(here.folder / "pgbouncer.ini")],
        "pgbouncer",
        user=localdb.server_user(),
    )
    here.wait_for(lambda: listening(address, 6432), "PgBouncer on the data host", "pgbouncer")


def _start_redis(here: Deployment, server: str, sentinel: str) -> None:
    """The primary (6379) and its replica (6380) on the data host; a sentinel (26379) on each
    of three hosts, quorum two."""
    data = here.address("data")
    common = ["--bind", data, "--protected-mode", "no", "--save", "", "--appendonly", "no"]
    here.start("data", [server, "--port", "6379", *common], "redis-6379")
    here.start(
        "data", [server, "--port", "6380", "--replicaof", data, "6379", *common], "redis-6380"
    )
    replica = redis.Redis(data, 6380, socket_timeout=2)
    here.wait_for(
        lambda: replica.info("replication")["master_link_status"] == "up",
        "the Redis replica to follow the primary",
        "redis-6379",
        "redis-6380",
    )
    replica.close()
    for host in SENTINEL_HOSTS:
        conf = here.folder / f"sentinel-{host}.conf"
        conf.write_text(
            f"port 26379\nbind {here.address(host)}\nprotected-mode no\ndir {here.folder}\n"
            f"sentinel monitor {MASTER} {data} 6379 2\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        here.start(host, [sentinel, str(conf)], f"sentinel-{host}")
    for host in SENTINEL_HOSTS:
        watcher = redis.Redis(here.address(host), 26379, decode_responses=True, socket_timeout=2)
        here.wait_for(
            lambda watcher=watcher: (
                len(watcher.sentinel_slaves(MASTER)) == 1
                and len(watcher.sentinel_sentinels(MASTER)) == len(SENTINEL_HOSTS) - 1
            ),
            f"the sentinel on {host} to know the replica and the other sentinels",
            *(f"sentinel-{h}" for h in SENTINEL_HOSTS),
        )
        watcher.close()


def _start_web(here: Deployment) -> None:
    for host in WEB_HOSTS:
        here.hearth(
            host,
            ["-m", "daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers",
             "config.asgi:application"],
            f"daphne-{host}",
        )  # fmt: skip
    for host in WEB_HOSTS:
        here.wait_for(
            lambda host=host: listening(here.address(host), 8000),
            f"daphne on {host}",
            f"daphne-{host}",
        )


def _start_haproxy(here: Deployment, binary: str) -> None:
    servers = "".join(f"    server {host} {here.address(host)}:8000 check\n" for host in WEB_HOSTS)
    (here.folder / "haproxy.cfg").write_text(
        "global\n"
        "    maxconn 2000\n"
        f"    stats socket {here.folder / 'haproxy.sock'} mode 600 level admin\n"
        "defaults\n"
        "    mode http\n"
        "    timeout connect 2s\n"
        "    timeout client 2m\n"
        "    timeout server 2m\n"
        "    timeout tunnel 1h\n"
        "    timeout http-request 10s\n"
        "    retries 3\n"
        "    option redispatch\n"
        "frontend hearth\n"
        f"    bind {here.address('lb')}:80\n"
        # TLS would end here; the web servers take the balancer's word for it.
        "    http-request set-header X-Forwarded-Proto https\n"
        "    http-request del-header X-Forwarded-For\n"
        "    option forwardfor\n"
        "    http-request deny if { path_beg /metrics }\n"
        "    default_backend web\n"
        "backend web\n"
        "    balance leastconn\n"
        "    option httpchk\n"
        f"    http-check send meth GET uri /ping/ ver HTTP/1.1 hdr Host {SITE} "
        "hdr X-Forwarded-Proto https\n"
        "    http-check expect status 200\n"
        "    default-server inter 1s fall 2 rise 2\n" + servers
    )
    here.start("lb", [binary, "-db", "-f", str(here.folder / "haproxy.cfg")], "haproxy")
    here.wait_for(
        lambda: set(here.backends().values()) == {"UP"},
        "HAProxy to see both web servers up",
        "haproxy",
        *(f"daphne-{host}" for host in WEB_HOSTS),
    )


def _start_workers(here: Deployment) -> None:
    """A worker on each worker host, each also taking a queue named after its host (so that
    the test can hand work to both); beat on the first."""
    for host in WORKER_HOSTS:
        here.hearth(
            host,
            ["-m", "celery", "-A", "config", "worker", "--loglevel=INFO", "--pool=prefork",
             "--concurrency=2", f"--hostname={host}@%h", f"--queues=celery,{host}"],
            f"celery-{host}",
        )  # fmt: skip
    (here.folder / "var").mkdir(exist_ok=True)
    here.hearth(
        WORKER_HOSTS[0],
        ["-m", "celery", "-A", "config", "beat", "--loglevel=INFO",
         f"--schedule={here.folder / 'var' / 'celerybeat-schedule'}"],
        "celery-beat",
    )  # fmt: skip
    for host in WORKER_HOSTS:
        here.wait_for(
            lambda host=host: " ready." in here.log(f"celery-{host}").read_text(errors="replace"),
            f"the Celery worker on {host}",
            f"celery-{host}",
        )


# Rooms (each with a facilitator of its own, open now) with their members; prints each room's
# session and its members' session cookies.
ROOMS_SCRIPT = """
import json, sys
from accounts.roles import Role
from tests.chat.conftest import open_session, session_cookie
from tests.factories import UserFactory, add_totp, make_group, make_member

rooms, members = map(int, sys.argv[1:3])
made = []
for number in range(rooms):
    host = UserFactory(display_name=f"Room Host {number}", roles=[Role.THERAPIST])
    add_totp(host)
    group = make_group(host, title=f"Room {number}", capacity=members + 2)
    users = [make_member(group).user for _ in range(members)]
    session = open_session(group)
    made.append({"session": session.pk, "cookies": [session_cookie(user) for user in users]})
print(json.dumps(made))
"""

# A group whose members each have a day-before reminder due for each of its sessions.
REMINDERS_SCRIPT = """
import sys
from accounts.roles import Role
from tests.factories import UserFactory, add_totp
from tests.jobs.test_faults import members_with_due_reminders

host = UserFactory(
    email="reminder-host@example.com", display_name="Reminder Host", roles=[Role.THERAPIST]
)
add_totp(host)
members_with_due_reminders(host, people=int(sys.argv[1]), sessions=int(sys.argv[2]))
"""


def load(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])
