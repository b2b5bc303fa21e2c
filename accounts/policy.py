"""The one login policy: may this login act now?

Asked by every door: the page middleware (``accounts.middleware.LoginPolicyMiddleware``), the
room socket's handshake and every re-check of open sockets (``chat.services.room_recheck``).
A rule added here guards them all; none lives only in HTTP middleware.

The rules, in order (the first that fails is the answer):

1. ``logged_out``: the login has ended (logged out, idle past ``SESSION_COOKIE_AGE``, ended
   from another device) or is not this person's (a password change since).
2. ``inactive``: the account is deactivated or erased.
3. ``expired``: the login is older than ``SESSION_ABSOLUTE_SECONDS``, however active.
4. ``suspended``: the account is suspended.
5. ``mfa_required``: the person holds a role that requires two-step login (therapist, peer
   supervisor, staff, or the admin flags) or any right on another's things (facilitating a
   group, for instance), and has no second factor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from allauth.mfa.models import Authenticator
from django.apps import apps
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group
from django.db import connection
from django.utils.crypto import constant_time_compare
from guardian.models import UserObjectPermissionBase

from accounts.models import PRIVILEGES, SECOND_FACTOR, User
from accounts.roles import MFA_REQUIRED_ROLES, Role
from accounts.sessions import LOGIN_AT

SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
# The name the privileges query gives "holds some object right" beside the role names.
_OBJECT_RIGHT = " object-right"  # no role name begins with a space


@dataclass(frozen=True)
class LoginRefusal:
    """Why a login may not act now: a stable ``code`` and plain words for the person."""

    code: str
    message: str


LOGGED_OUT = LoginRefusal("logged_out", "Your login has ended. Please log in again.")
INACTIVE = LoginRefusal("inactive", "This account is no longer active.")
EXPIRED = LoginRefusal("expired", "For your safety you were logged out. Please log in again.")
SUSPENDED = LoginRefusal("suspended", "This account is suspended.")
MFA_REQUIRED = LoginRefusal(
    "mfa_required",
    "Your role lets you see other people's information, so please set up two-step login "
    "before you continue.",
)


def object_right_models() -> list[type[UserObjectPermissionBase]]:
    """Every model of per-person object rights (django-guardian's generic one and each app's
    direct one), found through the model registry, so accounts depends on no app above it."""
    return sorted(
        (model for model in apps.get_models() if issubclass(model, UserObjectPermissionBase)),
        key=lambda model: model._meta.db_table,
    )


def privileges_load(users: list[User]) -> None:
    """Load each person's roles and whether they hold any object right, in one query for all,
    onto the instances (``User.roles`` then asks nothing)."""
    # getattr/setattr, not __dict__: request.user is a lazy wrapper that passes attributes on.
    pending = [user for user in users if getattr(user, PRIVILEGES, None) is None and user.pk]
    if not pending:
        return
    ids = list({user.pk for user in pending})
    through = User.groups.through._meta
    group_table = Group._meta.db_table
    # Table names come from the models' own metadata; every value is a parameter.
    parts = [
        f"SELECT ug.user_id, g.name FROM {through.db_table} ug "  # noqa: S608
        f"JOIN {group_table} g ON g.id = ug.group_id WHERE ug.user_id = ANY(%s)"
    ]
    params: list[Any] = [ids]
    for table in (model._meta.db_table for model in object_right_models()):
        parts.append(
            f"SELECT DISTINCT user_id, %s FROM {table} WHERE user_id = ANY(%s)"  # noqa: S608
        )
        params += [_OBJECT_RIGHT, ids]
    names: dict[int, set[str]] = {pk: set() for pk in ids}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for user_id, name in cursor.fetchall():
            names[user_id].add(name)
    for user in pending:
        held = names[user.pk]
        setattr(
            user,
            PRIVILEGES,
            (frozenset(role for role in Role if role.value in held), _OBJECT_RIGHT in held),
        )


def requires_mfa(user: User) -> bool:
    """Whether this person must use two-step login: a privileged role or flag, or any right
    on another's things."""
    if user.is_staff or user.is_superuser:
        return True
    privileges_load([user])
    roles, holds_object_rights = getattr(user, PRIVILEGES)
    return bool(roles & MFA_REQUIRED_ROLES) or holds_object_rights


def _with_second_factor(users: list[User]) -> set[int]:
    """Who of ``users`` has a second factor: as the login's query found it (``SECOND_FACTOR``,
    set by ``accounts.backends``), else one query for the rest."""
    found = {user.pk for user in users if getattr(user, SECOND_FACTOR, None) is True}
    unknown = [user for user in users if getattr(user, SECOND_FACTOR, None) is None]
    if unknown:
        found.update(
            Authenticator.objects.filter(user__in=unknown, type__in=SECOND_FACTORS).values_list(
                "user_id", flat=True
            )
        )
    return found


def _refusal_before_mfa(
    user: User | None, login: Mapping[str, Any] | None, *, now: datetime
) -> LoginRefusal | None:
    if user is None or not login or str(login.get(SESSION_KEY)) != str(user.pk):
        return LOGGED_OUT
    if not constant_time_compare(login.get(HASH_SESSION_KEY) or "", user.get_session_auth_hash()):
        return LOGGED_OUT
    if not user.is_active:
        return INACTIVE
    started = login.get(LOGIN_AT)
    if started is not None and now.timestamp() - float(started) > settings.SESSION_ABSOLUTE_SECONDS:
        return EXPIRED
    if user.is_suspended:
        return SUSPENDED
    return None


def logins_check(
    logins: Mapping[str, tuple[User | None, Mapping[str, Any] | None]], *, now: datetime
) -> dict[str, LoginRefusal | None]:
    """The policy for several logins at once (a room's sockets), by key: ``None`` where the
    login may act, else why not. A fixed handful of queries however many there are.

    ``logins`` maps a key of the caller's (a session key, a channel name) to the person and the
    login's stored data (``None`` or empty when the login is gone).
    """
    verdicts: dict[str, LoginRefusal | None] = {}
    passing: dict[str, User] = {}
    for key, (user, login) in logins.items():
        verdicts[key] = _refusal_before_mfa(user, login, now=now)
        if verdicts[key] is None and user is not None:
            passing[key] = user
    privileges_load(list(passing.values()))
    needing = [user for user in passing.values() if requires_mfa(user)]
    with_factor = _with_second_factor(needing)
    for key, user in passing.items():
        if requires_mfa(user) and user.pk not in with_factor:
            verdicts[key] = MFA_REQUIRED
    return verdicts


def login_check(
    *, user: User | None, login: Mapping[str, Any] | None, now: datetime
) -> LoginRefusal | None:
    """May this login act now? ``None`` if so, else the refusal (``logins_check`` for one)."""
    return logins_check({"": (user, login)}, now=now)[""]
