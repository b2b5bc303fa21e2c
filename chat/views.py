"""The room page: server-rendered (history readable without JavaScript), then room.js takes over."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from chat.models import Room
from chat.selectors import (
    RoomRefusal,
    hidden_participants,
    latest_messages,
    present,
    room_access,
)
from groups.checkout import checkout_open_at, is_active_member
from groups.models import GroupSession
from groups.selectors import session_for_viewer

# What a person is told when the room will not let them in (the socket says the same).
REFUSALS_SHOWN = {"too_early", "closed", "cancelled", "removed", "locked", "suspended"}


@login_required
@require_safe
def room(request: HttpRequest, session_id: int) -> HttpResponse:
    """One session's live room; anyone who may not be in it gets 404 or a plain reason."""
    now = timezone.now()
    try:
        access = room_access(user=request.user, session_id=session_id, now=now)
    except RoomRefusal as refusal:
        session = session_for_viewer(viewer=request.user, session_id=session_id)
        if refusal.code not in REFUSALS_SHOWN or session is None:
            raise Http404 from refusal
        response = render(
            request,
            "chat/room_closed.html",
            {
                "session": session,
                "group": session.group,
                "refusal": refusal,
                "checkout_open": refusal.code == "closed"
                and checkout_open_at(session, now)
                and is_active_member(user=request.user, group_id=session.group_id),
            },
            status=403,
        )
        # The room's script asks this page (HEAD) why a reconnect was refused.
        response["X-Room-Refusal"] = refusal.code
        return response
    session: GroupSession = access.session
    room_row = Room.objects.filter(session=session).first()
    participant_id = access.participant.pk if access.participant else None
    room_messages = latest_messages(session_id=session.pk)
    config = {
        "session": session.pk,
        "participant": participant_id,
        "role": access.role,
        "ws_path": f"/ws/sessions/{session.pk}/",
        "last_position": room_messages[-1].position if room_messages else 0,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.closes_at.isoformat(),
        "extended": session.extended_at is not None,
        "locked": bool(room_row and room_row.locked_at),
        "time_zone": timezone.get_current_timezone_name(),
        "report_url": reverse("moderation:report", args=[session.group.slug]),
    }
    return render(
        request,
        "chat/room.html",
        {
            "session": session,
            "group": session.group,
            "access": access,
            "participant_id": participant_id,
            "room_messages": room_messages,
            "room_config": config,
            "present": present(session_id=session.pk, now=now),
            "hidden_authors": set(hidden_participants(session=session, owner=request.user)),
            "pinned": room_row.pinned_notice if room_row else "",
            "locked": bool(room_row and room_row.locked_at),
            "status": session.status_at(now),
        },
    )
