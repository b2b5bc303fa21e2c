"""Close a person's open sockets when their login ends (Channels checks it only at connect).

Each socket also re-checks its login every few seconds; these push the close at once.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete
from django.dispatch import receiver

from chat.services import login_revoke_sockets


@receiver(user_logged_out, dispatch_uid="chat.close_sockets_on_logout")
def _close_sockets_on_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if user is not None and session_key:
        login_revoke_sockets(session_key=session_key, reason="logged_out")


@receiver(
    post_delete, sender="usersessions.UserSession", dispatch_uid="chat.close_sockets_of_ended_login"
)
def _close_sockets_of_ended_login(sender: Any, instance: Any, **kwargs: Any) -> None:
    """allauth's device list ended this login ("log out other sessions"), or found it gone."""
    login_revoke_sockets(session_key=instance.session_key, reason="logged_out")
