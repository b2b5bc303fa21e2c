"""Who is on the other end of a room's WebSocket: the login named by the session cookie."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from channels.auth import AuthMiddleware
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware
from django.conf import settings


class SocketLoginMiddleware(BaseMiddleware):
    """``scope["session"]``: the login the session cookie names, for ``AuthMiddleware``.

    Channels' ``SessionMiddleware`` does this too, and also wraps the socket's ``send`` to save
    a changed session with an HTTP response. A socket sends no HTTP response and never changes
    the login (the pages do), yet paid that wrapper's checks on every frame: 7 % of a server's
    event loop at 100 messages a second into rooms of 50 (py-spy). Here ``send`` passes through
    untouched.
    """

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.store = import_module(settings.SESSION_ENGINE).SessionStore

    async def __call__(self, scope: Any, receive: Any, send: Any) -> Any:
        if "session" not in scope:
            scope = dict(scope)
            key = scope.get("cookies", {}).get(settings.SESSION_COOKIE_NAME)
            scope["session"] = self.store(session_key=key)
        return await self.inner(scope, receive, send)


def socket_auth_stack(inner: Any) -> Any:
    """Channels' ``AuthMiddlewareStack`` for sockets: cookies, the login, the user."""
    return CookieMiddleware(SocketLoginMiddleware(AuthMiddleware(inner)))
