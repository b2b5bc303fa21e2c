"""Hearth behind PgBouncer in transaction mode (DATABASE_POOLER=pgbouncer)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config import localdb
from tests.chat.test_processes import free_port
from tests.conftest import settings_for
from tests.tools import database_conninfo, open_folder, program

ROOT = Path(__file__).resolve().parents[2]
# What a web process does through the pooler once migrated: reads, a locked write, a streamed
# read (iterator(), which declares a server-side cursor unless they are disabled), from two
# threads at once so that the pooler hands the statements out over its server connections.
READS = """
import threading
import django
django.setup()
from django.contrib.sites.models import Site
from django.db import connection, transaction
from django.utils import timezone
from accounts.models import JobRun, User

def hold():
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.5)")
    connection.close()

def work(name):
    for _ in range(10):
        with transaction.atomic():
            JobRun.objects.select_for_update().filter(name=name).first()
            JobRun.objects.update_or_create(name=name, defaults={"last_success_at": timezone.now()})
    connection.close()

def at_once(target, *args):
    threads = [threading.Thread(target=target, args=(arg,)) for arg in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

at_once(hold, 1, 2)  # the pooler now has two server connections, which it takes in turn
at_once(work, "job-1", "job-2")
# Outside a transaction, a server-side cursor is declared on one server connection and fetched
# from the next one.
assert [run.name for run in JobRun.objects.order_by("name").iterator(chunk_size=1)] == [
    "job-1", "job-2"
]
print(Site.objects.count(), User.objects.count(), JobRun.objects.count())
"""


def test_the_pooler_setting_turns_off_what_transaction_pooling_breaks():
    plain = settings_for(DATABASE_POOLER=None)["DATABASES"]["default"]
    assert plain["OPTIONS"]["options"] == "-c jit=off"
    assert not plain.get("DISABLE_SERVER_SIDE_CURSORS")
    assert plain["OPTIONS"]["server_side_binding"] is True  # prepared statements (settings)
    assert plain["OPTIONS"]["prepare_threshold"] == 5

    pooled = settings_for(DATABASE_POOLER="pgbouncer")["DATABASES"]["default"]
    assert pooled["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert "options" not in pooled["OPTIONS"]  # PgBouncer refuses the startup parameter
    assert pooled["OPTIONS"].get("prepare_threshold") is None  # Django's: never prepare
    assert pooled["OPTIONS"].get("server_side_binding") is not True
    assert pooled["OPTIONS"]["pool"]["max_size"] == plain["OPTIONS"]["pool"]["max_size"]

    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOLER"):
        settings_for(DATABASE_POOLER="pgpool")


def _run_as() -> str | None:
    """Whom PgBouncer (which will not run as root) becomes: as root, the embedded server's own
    user, the one that may use its socket; nobody's business otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(localdb.SYSTEM_USER).pw_name
    except KeyError:
        return "nobody"


@pytest.fixture
def bouncer(django_db_setup, django_db_blocker) -> Iterator[dict[str, str]]:
    """An empty database of its own and PgBouncer in transaction mode in front of it, on a free
    port; yields what a process needs to connect through it."""
    binary = program("pgbouncer", package="pgbouncer")
    server = connection.settings_dict
    name = f"hearth_bouncer_{uuid.uuid4().hex[:8]}"
    conninfo = database_conninfo(server["NAME"])
    with django_db_blocker.unblock(), psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        port = free_port()
        with open_folder() as folder:
            target = f"host={server['HOST'] or '127.0.0.1'} port={server['PORT'] or 5432}"
            target += f" dbname={name} user={server['USER']}"
            if server["PASSWORD"]:
                target += f" password={server['PASSWORD']}"
            (folder / "users.txt").write_text(f'"{server["USER"]}" ""\n')
            run_as = _run_as()
            (folder / "pgbouncer.ini").write_text(
                f"[databases]\n{name} = {target}\n\n[pgbouncer]\n"
                f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
                f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
                # Two server connections, taken in turn: a client's consecutive transactions
                # land on different ones, as they do on a busy pooler.
                "pool_mode = transaction\ndefault_pool_size = 2\nmax_client_conn = 200\n"
                "server_round_robin = 1\n" + (f"user = {run_as}\n" if run_as else "")
            )
            log = (folder / "pgbouncer.log").open("w")
            process = subprocess.Popen(
                [binary, str(folder / "pgbouncer.ini")], stdout=log, stderr=subprocess.STDOUT
            )
            try:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        psycopg.connect(
                            host="127.0.0.1", port=port, user=server["USER"], dbname=name
                        ).close()
                        break
                    except psycopg.OperationalError:
                        assert process.poll() is None, (folder / "pgbouncer.log").read_text()
                        time.sleep(0.1)
                user = server["USER"]
                yield {
                    "DATABASE_URL": f"postgres://{user}@127.0.0.1:{port}/{name}",
                    "DATABASE_OWNER_URL": f"postgres://{user}@127.0.0.1:{port}/{name}",
                    "DATABASE_APP_ROLE": user,  # one role here: nothing to grant
                    "REDIS_NAMESPACE": "hearth-pgbouncer-test",
                    "log": str(folder / "pgbouncer.log"),
                }
            finally:
                process.terminate()
                process.wait(timeout=10)
                log.close()
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def run_through(bouncer: dict[str, str], args: list[str], **env: str):
    environment = {**os.environ, **{k: v for k, v in bouncer.items() if k != "log"}, **env}
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    environment["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=540,
    )


def test_hearth_migrates_and_reads_through_pgbouncer_in_transaction_mode(bouncer):
    plain = run_through(bouncer, ["-c", READS])
    assert plain.returncode != 0  # without the setting, PgBouncer refuses the connection
    assert "unsupported startup parameter" in plain.stderr

    migrated = run_through(
        bouncer, ["manage.py", "migrate", "--noinput", "-v0"], DATABASE_POOLER="pgbouncer"
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    read = run_through(bouncer, ["-c", READS], DATABASE_POOLER="pgbouncer")
    assert read.returncode == 0, read.stderr[-3000:]
    sites, users, runs = map(int, read.stdout.split())
    assert (sites, users, runs) == (1, 0, 2)


@pytest.mark.django_db
def test_without_pgbouncer_a_statement_run_again_and_again_is_prepared():
    """PostgreSQL plans a prepared statement once, not for each request (config/settings.py)."""
    from django.db import connection

    from accounts.models import User

    for _ in range(6):
        list(User.objects.filter(email="nobody@example.org"))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ['%"accounts_user"."email" = $1%'],
        )
        assert cursor.fetchone()[0] == 1
