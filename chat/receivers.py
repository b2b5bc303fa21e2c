"""Close a person's open sockets when their login ends (Channels checks it only at connect)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from chat.services import login_revoke_sockets


@receiver(user_logged_out, dispatch_uid="chat.close_sockets_on_logout")
def _close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        login_revoke_sockets(session_key=session_key, reason="logged_out")
