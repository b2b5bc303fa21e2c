"""The absolute login lifetime, kept in the session beside Django's idle expiry."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest

_LOGIN_AT = "hearth_login_at"


def mark_login_time(request: HttpRequest, *, now: datetime) -> None:
    request.session[_LOGIN_AT] = now.timestamp()


def login_expired(request: HttpRequest, *, now: datetime) -> bool:
    """Whether this login is older than ``SESSION_ABSOLUTE_SECONDS``, however active it was."""
    started = request.session.get(_LOGIN_AT)
    if started is None:
        mark_login_time(request, now=now)
        return False
    return now.timestamp() - float(started) > settings.SESSION_ABSOLUTE_SECONDS
