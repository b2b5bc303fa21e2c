"""The login backend: allauth's, with the person loaded for a request in one query.

Every logged-in request needs the person, their privileges (roles, and whether they hold any
object right), whether they have a second factor (both for ``accounts.policy``), and where
they stand with the guidelines (``accounts.context_processors``). Asked one by one that was
four queries, each costing more CPU to build than to run; here it is one written statement,
whose answers are left on the instance where those readers look first. Nothing is kept
between requests: every request, and every socket's handshake, loads them afresh (the room's
re-checks load their people themselves, ``chat.services.room_recheck``).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from allauth.mfa.models import Authenticator
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connections, router

from accounts.models import (
    GUIDELINES_STANDING,
    PRIVILEGES,
    SECOND_FACTOR,
    GuidelinesAcceptance,
    GuidelinesVersion,
    User,
)
from accounts.policy import SECOND_FACTORS, object_right_tables
from accounts.roles import Role


@cache
def _login_sql() -> str:
    """The statement (table and column names from the models' metadata; values are
    parameters): the person's columns, then role names, any object right, a second factor,
    the current guidelines accepted, any guidelines accepted."""
    user = User._meta
    person = user.pk.column
    through = User.groups.through._meta
    member = through.get_field("user").column
    group = through.get_field("group").column
    authenticator = Authenticator._meta
    acceptance = GuidelinesAcceptance._meta
    accepted_by = acceptance.get_field("user").column
    accepted = acceptance.get_field("version").column
    version = GuidelinesVersion._meta
    columns = ", ".join(f'u."{field.column}"' for field in user.concrete_fields)
    rights = " OR ".join(
        f"EXISTS (SELECT 1 FROM {table} r WHERE r.user_id = u.{person})"  # noqa: S608
        for table in object_right_tables()
    )
    return (
        f"SELECT {columns}, "  # noqa: S608
        f"ARRAY(SELECT g.name FROM {through.db_table} ug JOIN {Group._meta.db_table} g "
        f"ON g.id = ug.{group} WHERE ug.{member} = u.{person}), "
        f"{rights or 'FALSE'}, "
        f"EXISTS (SELECT 1 FROM {authenticator.db_table} a "
        f"WHERE a.{authenticator.get_field('user').column} = u.{person} "
        f"AND a.{authenticator.get_field('type').column} = ANY(%s)), "
        f"EXISTS (SELECT 1 FROM {acceptance.db_table} ga WHERE ga.{accepted_by} = u.{person} "
        f"AND ga.{accepted} = (SELECT v.id FROM {version.db_table} v "
        "WHERE v.published_at IS NOT NULL ORDER BY v.version DESC LIMIT 1)), "
        f"EXISTS (SELECT 1 FROM {acceptance.db_table} ga WHERE ga.{accepted_by} = u.{person}) "
        f"FROM {user.db_table} u WHERE u.{person} = %s"
    )


def login_person_load(user_id: Any) -> User | None:
    """The person ``user_id`` with their privileges, second factor and guidelines standing
    set where ``accounts.policy`` and ``accounts.selectors`` read them (one query)."""
    try:
        pk = User._meta.pk.to_python(user_id)
    except ValidationError:  # a session naming no valid id is no login
        return None
    alias = router.db_for_read(User)
    with connections[alias].cursor() as cursor:
        cursor.execute(_login_sql(), [[factor.value for factor in SECOND_FACTORS], pk])
        row = cursor.fetchone()
    if row is None:
        return None
    fields = User._meta.concrete_fields
    user = User.from_db(alias, [field.attname for field in fields], row[: len(fields)])
    role_names, holds_object_rights, second_factor, current, any_accepted = row[len(fields) :]
    held = set(role_names)
    roles = frozenset(role for role in Role if role.value in held)
    setattr(user, PRIVILEGES, (roles, bool(holds_object_rights)))
    setattr(user, SECOND_FACTOR, bool(second_factor))
    standing = "accepted" if current else "update" if any_accepted else "first"
    setattr(user, GUIDELINES_STANDING, standing)
    return user


class AuthenticationBackend(AllauthBackend):
    """allauth's backend (login by email, with its timing mitigation), loading the logged-in
    person with ``login_person_load``."""

    def get_user(self, user_id: Any) -> User | None:
        user = login_person_load(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    async def aget_user(self, user_id: Any) -> User | None:
        return await sync_to_async(self.get_user)(user_id)
