"""Django's database session store, whose read of a login brings the person with it.

Every logged-in request reads its session row, then the person it names. Here one query does
both: the person listed for this session in allauth's device list (``UserSession``, written at
every login), with everything ``accounts.backends`` loads about them, and the session row as
two of its columns. The backend takes that person if the session names them (it checks the
id, as always); a session with no listed person (not logged in) is read on its own, as Django
reads it. The SQL of both is built once per process (``config.baked``).

The table stays the only copy of a login, so ending one (logout, another device, erasure, the
admin) takes effect at once in every process, whatever Redis is doing. ``SESSION_ENGINE``
names this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db.models import QuerySet, Subquery
from django.utils import timezone

from accounts.backends import login_person_annotations, login_person_read_with_session
from accounts.models import User
from config.baked import Baked


def _current(session_key: str, now: datetime) -> QuerySet[Any, Any]:
    """Django's own read of a login that has not expired (``db.SessionStore``)."""
    return Session.objects.filter(session_key=session_key, expire_date__gt=now)


def _login(session_key: str, now: datetime) -> QuerySet[User]:
    """The person listed for the session (at most one: session keys are unique there), with
    the session's row, if it is current, as ``_session_data`` and ``_session_expires``."""
    current = _current(session_key, now)
    return (
        User.objects.filter(usersession__session_key=session_key)
        .annotate(
            **login_person_annotations(),
            _session_data=Subquery(current.values("session_data")[:1]),
            _session_expires=Subquery(current.values("expire_date")[:1]),
        )
        .order_by()[:1]
    )


_CURRENT = Baked(_current, session_key=str, now=datetime)
_LOGIN = Baked(_login, session_key=str, now=datetime)


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        key = self.session_key
        login_person_read_with_session(None)
        if not key:
            self._session_key = None
            return None
        now = timezone.now()
        people = _LOGIN.objects(session_key=key, now=now)
        if people:
            person = people[0]
            data = person.__dict__.pop("_session_data")
            expires = person.__dict__.pop("_session_expires")
            if data is None:  # the login ended or expired
                self._session_key = None
                return None
            login_person_read_with_session(person)
            return Session(session_key=key, session_data=data, expire_date=expires)
        found = _CURRENT.objects(session_key=key, now=now)
        if not found:
            self._session_key = None
            return None
        session: Session = found[0]
        return session
