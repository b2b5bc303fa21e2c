"""The practice room: the real room page and script, with nobody else in it and nothing kept.

Any logged-in person may open it at any time. It renders the room's own template
(``chat/room.html``, through ``chat/practice_room.html``, which adds the guided walk) with a
pretend session and group; the config's ``practice`` flag makes ``static/js/room.js`` open
``static/js/practice_socket.js`` instead of a WebSocket. That stand-in answers in the events
of docs/protocol.md from a pretend room kept in the page's memory, so nothing said there
reaches the server: no participant, message, attendance, report or audit row is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from groups.models import GroupSession
from groups.selectors import pseudonym_for_next_session

PRACTICE_TITLE = "Practice room"
PRACTICE_MINUTES = 60
PRACTICE_AGREEMENT = (
    "This is an example. Each real group has its own agreement, for instance:\n\n"
    "We listen before we answer. What is said in the group stays in the group. "
    "It is fine to pass."
)


@dataclass(frozen=True)
class PracticeGroup:
    """What the room template reads of a group."""

    title: str
    agreement: str
    slug: str = ""


@dataclass(frozen=True)
class PracticeSession:
    """What the room template reads of a session. ``pk`` 0 is no session's id."""

    starts_at: datetime
    closes_at: datetime
    pk: int = 0
    extended_at: None = None


@dataclass(frozen=True)
class PracticeAccess:
    """What the room template reads of the person's place in the room."""

    name: str
    role: str = "member"


@login_required
@require_safe
def practice_room(request: HttpRequest) -> HttpResponse:
    """The practice room, under the name the person goes by in their next group."""
    name = pseudonym_for_next_session(user=request.user) or request.user.display_name
    starts_at = timezone.now().replace(second=0, microsecond=0)
    session = PracticeSession(
        starts_at=starts_at, closes_at=starts_at + timedelta(minutes=PRACTICE_MINUTES)
    )
    group = PracticeGroup(title=PRACTICE_TITLE, agreement=PRACTICE_AGREEMENT)
    config = {
        "practice": True,
        "session": session.pk,
        "participant": None,  # the stand-in says who you are in its room.state
        "role": "member",
        "ws_path": "",
        "last_position": 0,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.closes_at.isoformat(),
        "extended": False,
        "locked": False,
        "time_zone": timezone.get_current_timezone_name(),
        "report_url": reverse("chat:practice_report"),
        # For the stand-in's room.state and presence.
        "name": name,
        "agreement": group.agreement,
    }
    return render(
        request,
        "chat/practice_room.html",
        {
            "session": session,
            "group": group,
            "access": PracticeAccess(name=name),
            "participant_id": None,
            "room_messages": [],
            "room_config": config,
            "present": [],
            "hidden_authors": set(),
            "pinned": "",
            "locked": False,
            "status": GroupSession.Status.LIVE,
        },
    )


@login_required
@require_safe
def practice_report(request: HttpRequest) -> HttpResponse:
    """What Report does, for a Report link of the practice room opened in a tab of its own."""
    return render(request, "chat/practice_report.html")
