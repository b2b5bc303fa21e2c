"""Backups: a dump restored into an empty database, then migrated, is a working Hearth
(docs/operations.md, "Backups and restore")."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from chat.models import Message
from config import localdb
from moderation.models import AuditEvent
from tests.chat.conftest import open_session
from tests.config.test_metrics import post
from tests.conftest import subprocess_database_url
from tests.factories import make_group, make_member
from tests.tools import database_conninfo

ROOT = Path(__file__).resolve().parents[2]
CHECK = """
import django
django.setup()
from django.db import DatabaseError, transaction
from chat.models import Message
from moderation.models import AuditEvent
print(Message.objects.count(), AuditEvent.objects.count(), Message.objects.get().body)
try:
    with transaction.atomic():
        AuditEvent.objects.all()._raw_delete(AuditEvent.objects.db)
    print("audit log deleted")
except DatabaseError:
    print("audit log kept")
"""


def in_database(url: str, database: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + database


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=540,
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dump_restored_into_an_empty_database_and_migrated_is_a_working_hearth(
    therapist, tmp_path
):
    group = make_group(therapist)
    member = make_member(group).user
    post(member, open_session(group), body="Still here")
    events = AuditEvent.objects.count()
    source = connection.settings_dict["NAME"]
    restored = f"hearth_restored_{uuid.uuid4().hex[:8]}"
    dump = tmp_path / "hearth.dump"

    dumped = run(
        [
            localdb.pg_bin("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-acl",
            f"--dbname={database_conninfo(source)}",
            f"--file={dump}",
        ]
    )
    assert dumped.returncode == 0, dumped.stderr
    with psycopg.connect(database_conninfo(source), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        loaded = run(
            [
                localdb.pg_bin("pg_restore"),
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                f"--dbname={database_conninfo(restored)}",
                str(dump),
            ]
        )
        assert loaded.returncode == 0, loaded.stderr
        owner = in_database(os.environ.get("DATABASE_URL") or localdb.owner_url(), restored)
        app = in_database(subprocess_database_url(), restored)
        migrated = run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            DATABASE_URL=owner,
            DATABASE_OWNER_URL=owner,
        )
        assert migrated.returncode == 0, migrated.stderr[-3000:]
        assert "No migrations to apply" in migrated.stdout

        checked = run([sys.executable, "-c", CHECK], DATABASE_URL=app)

        assert checked.returncode == 0, checked.stderr[-3000:]
        counts, verdict = checked.stdout.splitlines()
        assert counts == f"{Message.objects.count()} {events} Still here"
        assert verdict == "audit log kept"  # append-only, as before the backup
    finally:
        with psycopg.connect(database_conninfo(source), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{restored}" WITH (FORCE)')
