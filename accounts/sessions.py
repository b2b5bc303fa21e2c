"""The login's lifetimes, kept in the session: the absolute one, and when activity was last
recorded (which renews Django's idle expiry)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest

_LOGIN_AT = "hearth_login_at"
_SEEN_AT = "hearth_seen_at"


def mark_login_time(request: HttpRequest, *, now: datetime) -> None:
    request.session[_LOGIN_AT] = now.timestamp()


def login_expired(request: HttpRequest, *, now: datetime) -> bool:
    """Whether this login is older than ``SESSION_ABSOLUTE_SECONDS``, however active it was."""
    started = request.session.get(_LOGIN_AT)
    if started is None:
        mark_login_time(request, now=now)
        return False
    return now.timestamp() - float(started) > settings.SESSION_ABSOLUTE_SECONDS


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
