"""The login backend: allauth's, with the person loaded for a request in one query.

Every logged-in request needs the person, their privileges (roles, and whether they hold any
object right), whether they have a second factor (both for ``accounts.policy``), and where
they stand with the guidelines (``accounts.context_processors``). Asked one by one that was
four queries, each costing more CPU to build than to run; here it is one, whose SQL the ORM
builds once per process (``config.baked``), and its answers are left on the instance where
those readers look first. Nothing is kept
between requests: every request, and every socket's handshake, loads them afresh (the room's
re-checks load their people themselves, ``chat.services.room_recheck``).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from allauth.mfa.models import Authenticator
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, QuerySet, Subquery

from accounts.models import (
    GUIDELINES_STANDING,
    PRIVILEGES,
    SECOND_FACTOR,
    GuidelinesAcceptance,
    GuidelinesVersion,
    User,
)
from accounts.policy import SECOND_FACTORS, object_right_models
from accounts.roles import Role
from config.baked import Baked


def login_person_annotations() -> dict[str, Any]:
    """What ``login_person_load`` reads beside the person's row, as annotations of a User
    query: their role names, whether they hold a right in each table of object rights, a
    second factor, the guidelines in force accepted, and any accepted."""
    person = OuterRef("pk")
    latest = GuidelinesVersion.objects.filter(published_at__isnull=False).order_by("-version")
    rights = {
        f"{_RIGHT}{n}": Exists(model.objects.filter(user=person))
        for n, model in enumerate(object_right_models())
    }
    return {
        "_role_names": ArraySubquery(Group.objects.filter(user=person).values("name")),
        "_second_factor": Exists(
            Authenticator.objects.filter(user=person, type__in=SECOND_FACTORS)
        ),
        "_guidelines_current": Exists(
            GuidelinesAcceptance.objects.filter(
                user=person, version=Subquery(latest.values("pk")[:1])
            )
        ),
        "_guidelines_any": Exists(GuidelinesAcceptance.objects.filter(user=person)),
        **rights,
    }


def _login_person(user_id: int) -> QuerySet[User]:
    return User.objects.filter(pk=user_id).annotate(**login_person_annotations())


_RIGHT = "_right_"
_LOGIN_PERSON = Baked(_login_person, user_id=int)


def login_person_ready(user: User) -> User:
    """A User read with ``login_person_annotations``, its answers set where
    ``accounts.policy`` and ``accounts.selectors`` read them."""
    loaded = user.__dict__
    held = set(loaded.pop("_role_names"))
    rights = [loaded.pop(name) for name in [name for name in loaded if name.startswith(_RIGHT)]]
    roles = frozenset(role for role in Role if role.value in held)
    setattr(user, PRIVILEGES, (roles, any(rights)))
    setattr(user, SECOND_FACTOR, loaded.pop("_second_factor"))
    current, any_accepted = loaded.pop("_guidelines_current"), loaded.pop("_guidelines_any")
    setattr(
        user, GUIDELINES_STANDING, "accepted" if current else "update" if any_accepted else "first"
    )
    return user


def login_person_load(user_id: Any) -> User | None:
    """The person ``user_id`` with their privileges, second factor and guidelines standing
    set where ``accounts.policy`` and ``accounts.selectors`` read them (one query, whose SQL
    the ORM builds once per process)."""
    try:
        pk = User._meta.pk.to_python(user_id)
    except ValidationError:  # a session naming no valid id is no login
        return None
    preloaded = _read_with_the_session.get()
    if preloaded is not None:
        _read_with_the_session.set(None)
        if preloaded.pk == pk:
            return preloaded
    found = _LOGIN_PERSON.objects(user_id=pk)
    return login_person_ready(found[0]) if found else None


# The person read in the same query as the request's session (accounts.session_store), for
# the next ``login_person_load`` of this request, which takes it if the session names them.
_read_with_the_session: ContextVar[User | None] = ContextVar("login_person", default=None)


def login_person_read_with_session(user: User | None) -> None:
    """Leave ``user`` (read with ``login_person_annotations``, or None) for this request's
    ``login_person_load``."""
    _read_with_the_session.set(login_person_ready(user) if user is not None else None)


class AuthenticationBackend(AllauthBackend):
    """allauth's backend (login by email, with its timing mitigation), loading the logged-in
    person with ``login_person_load``."""

    def get_user(self, user_id: Any) -> User | None:
        user = login_person_load(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    async def aget_user(self, user_id: Any) -> User | None:
        return await sync_to_async(self.get_user)(user_id)
