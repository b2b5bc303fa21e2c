"""Least privilege: the running application's database role may read and write rows, and no
more. Every forbidden statement is tried as that role (config/database.py grants it)."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings

from tests.conftest import subprocess_database_url

pytestmark = pytest.mark.django_db

FORBIDDEN = {
    "change an audit event": "UPDATE moderation_auditevent SET action = 'forged'",
    "delete an audit event": "DELETE FROM moderation_auditevent",
    "empty the audit log": "TRUNCATE moderation_auditevent",
    "switch triggers off for the session": "SET session_replication_role = replica",
    "disable the append-only trigger": (
        "ALTER TABLE moderation_auditevent DISABLE TRIGGER moderation_auditevent_append_only"
    ),
    "drop the append-only trigger": (
        "DROP TRIGGER moderation_auditevent_append_only ON moderation_auditevent"
    ),
    "drop a table": "DROP TABLE groups_therapygroup",
    "change a table": "ALTER TABLE accounts_user ADD COLUMN backdoor text",
    "make a table": "CREATE TABLE stash (id int)",
    "make itself a superuser": f"ALTER ROLE {settings.DATABASE_APP_ROLE} SUPERUSER",
    "make a role": "CREATE ROLE intruder",
}


@pytest.fixture
def as_application():
    url = subprocess_database_url()
    assert url.startswith(f"postgres://{settings.DATABASE_APP_ROLE}@"), (
        f"the role {settings.DATABASE_APP_ROLE} must exist (docs/architecture.md)"
    )
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def test_the_application_role_is_no_superuser_and_owns_nothing(as_application):
    row = as_application.execute(
        "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles "
        "WHERE rolname = current_user"
    ).fetchone()
    assert row == (False, False, False, False)
    owned = as_application.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
        "WHERE r.rolname = current_user"
    ).fetchone()[0]
    assert owned == 0


@pytest.mark.parametrize("statement", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_the_application_role_is_refused(as_application, statement):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_application.execute(statement)


def test_the_application_role_cannot_grant_itself_the_audit_log(as_application):
    # PostgreSQL only warns that nothing was granted; what matters is what the role then holds.
    as_application.execute(f"GRANT UPDATE ON moderation_auditevent TO {settings.DATABASE_APP_ROLE}")
    held = as_application.execute(
        "SELECT has_table_privilege('moderation_auditevent', 'UPDATE'), "
        "has_table_privilege('moderation_auditevent', 'DELETE'), "
        "has_table_privilege('moderation_auditevent', 'TRUNCATE')"
    ).fetchone()
    assert held == (False, False, False)


def test_the_application_role_reads_and_writes_rows_and_adds_audit_events(as_application):
    as_application.execute("SELECT count(*) FROM moderation_auditevent")
    as_application.execute("UPDATE accounts_user SET display_name = display_name WHERE false")
    as_application.execute("DELETE FROM django_session WHERE false")
    assert as_application.execute(
        "SELECT has_table_privilege('moderation_auditevent', 'INSERT')"
    ).fetchone() == (True,)
