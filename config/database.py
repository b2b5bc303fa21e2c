"""Least privilege in PostgreSQL: what the application's role may do, granted after migrate.

Two roles (docs/architecture.md, "Database roles"): the owner (``DATABASE_OWNER_URL``) owns
every table and runs the migrations; the application (``DATABASE_URL`` of the running web,
worker and beat) is no superuser, owns nothing, and may only read and write rows. After every
``migrate`` the owner grants the application ``SELECT, INSERT, UPDATE, DELETE`` on every table
and the use of every sequence, and takes back ``UPDATE``, ``DELETE`` and ``TRUNCATE`` on the
audit log: the application can add audit events and never change or remove one (nor disable
the append-only trigger, which needs the table's owner or a superuser).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections

APPEND_ONLY_TABLES = ("moderation_auditevent",)


def application_role_grant(*, using: str = "default") -> bool:
    """Grant the application's role its rights on every table; False if there is no such role
    or we are it (a deployment with one role, where nothing can be granted)."""
    role = settings.DATABASE_APP_ROLE
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user <> %s AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)",
            [role, role],
        )
        if not cursor.fetchone()[0]:
            return False
        quoted = connection.ops.quote_name(role)
        cursor.execute(f"GRANT USAGE ON SCHEMA public TO {quoted}")
        cursor.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
        )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
        for table in APPEND_ONLY_TABLES:
            cursor.execute(
                f"REVOKE UPDATE, DELETE, TRUNCATE ON {connection.ops.quote_name(table)} "
                f"FROM {quoted}"
            )
    return True


def grant_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    application_role_grant(using=using)
