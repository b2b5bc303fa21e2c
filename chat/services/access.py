"""Who may use the facilitator's controls of a room (its controls and its floor)."""

from __future__ import annotations

from accounts.exceptions import ServiceError
from accounts.models import User
from groups import rights
from groups.models import GroupSession


def facilitated_session(actor: User, session_id: int) -> GroupSession:
    """The session, if ``actor`` facilitates its group; refuses everyone else alike."""
    session = GroupSession.objects.select_related("group").filter(pk=session_id).first()
    if session is None or not rights.has_right(
        user=actor, group=session.group, right=rights.FACILITATE
    ):
        raise ServiceError("Only the group's facilitators can do this.", code="forbidden")
    return session
