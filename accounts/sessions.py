"""The login's lifetimes, kept in the session: the absolute one, and when activity was last
recorded (which renews Django's idle expiry)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from django.conf import settings
from django.http import HttpRequest

LOGIN_AT = "hearth_login_at"  # when the login began (its absolute lifetime counts from it)
_SEEN_AT = "hearth_seen_at"


def mark_login_time(request: HttpRequest, *, now: datetime) -> None:
    request.session[LOGIN_AT] = now.timestamp()


def login_time_ensure(request: HttpRequest, *, now: datetime) -> None:
    """Mark a login made before the time was recorded (its absolute lifetime starts now)."""
    if request.session.get(LOGIN_AT) is None:
        mark_login_time(request, now=now)


def activity_due(request: HttpRequest, *, now: datetime) -> bool:
    """Whether this request should renew the idle expiry and the device list's "last seen".

    At most once every ``SESSION_ACTIVITY_SECONDS``: writing the session row and allauth's
    ``UserSession`` on every request cost two writes per page. Marking the time modifies the
    session, so ``SessionMiddleware`` saves it with a fresh idle expiry.
    """
    seen = request.session.get(_SEEN_AT)
    if seen is not None and now.timestamp() - float(seen) < settings.SESSION_ACTIVITY_SECONDS:
        return False
    request.session[_SEEN_AT] = now.timestamp()
    return True


# --- Logins seen from outside a request (a room's sockets) ---------------------------------------


def logins_current(session_keys: Iterable[str], *, now: datetime) -> dict[str, dict[str, Any]]:
    """The stored data of each of these logins that has not ended or expired, by key.

    With a session store kept in a table (Django's default), one query for them all.
    """
    keys = {key for key in session_keys if key}
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not keys:
        return {}
    if not hasattr(store, "get_model_class"):  # a store without a table: one load each
        found = {key: store(session_key=key).load() for key in keys}
        return {key: data for key, data in found.items() if data}
    rows = store.get_model_class().objects.filter(session_key__in=keys, expire_date__gt=now)
    decoder = store()
    return {row.session_key: decoder.decode(row.session_data) for row in rows}


def logins_end(session_keys: Iterable[str]) -> None:
    """End these logins through the session store: with a store that keeps a copy in the cache
    (``cached_db``), deleting only the row would leave the copy working until it expired."""
    store = import_module(settings.SESSION_ENGINE).SessionStore
    for key in {key for key in session_keys if key}:
        store().delete(key)


def logins_renew(session_keys: Iterable[str], *, now: datetime) -> None:
    """Renew the idle expiry of these logins, as a request would: someone in a live room is not
    idle, though their browser may ask for no page while they are there."""
    keys = {key for key in session_keys if key}
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if not keys:
        return
    expires = now + timedelta(seconds=settings.SESSION_COOKIE_AGE)
    if not hasattr(store, "get_model_class"):
        for key in keys:
            login = store(session_key=key)
            if login.load():
                login.modified = True
                login.save(must_create=False)
        return
    store.get_model_class().objects.filter(
        session_key__in=keys, expire_date__gt=now, expire_date__lt=expires
    ).update(expire_date=expires)
