"""Calendar pages: the secret feed, one session as a file, and the feed's settings."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_safe

from groups.calendar import build_calendar
from groups.models import CalendarFeed
from groups.selectors import calendar_sessions, session_for_participant
from groups.services import (
    calendar_feed_get_or_create,
    calendar_feed_reset,
    calendar_feed_set_group_names,
)
from groups.views import token_from_path

CALENDAR_CONTENT_TYPE = "text/calendar; charset=utf-8"


def _feed_url(feed: CalendarFeed) -> str:
    return settings.SITE_URL + reverse("groups:calendar_feed", args=[feed.token])


@require_safe
def feed(request: HttpRequest, token: str) -> HttpResponse:
    """Serve a person's sessions to their calendar app; the secret token is the login."""
    found = (
        CalendarFeed.objects.select_related("user")
        .filter(token=token_from_path(token), user__is_active=True)
        .first()
    )
    if found is None:
        raise Http404("No calendar at this address.")
    body = build_calendar(
        sessions=calendar_sessions(user=found.user),
        include_group_names=found.include_group_names,
        site_url=settings.SITE_URL,
    )
    response = HttpResponse(body, content_type=CALENDAR_CONTENT_TYPE)
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response


@login_required
@require_safe
def session_ics(request: HttpRequest, session_id: int) -> HttpResponse:
    """Download one session as a calendar file, if the person takes part in its group.

    Anyone else gets the same 404 as for a session that does not exist.
    """
    session = session_for_participant(viewer=request.user, session_id=session_id)
    if session is None:
        raise Http404("No such session.")
    include_group_names = bool(
        CalendarFeed.objects.filter(user=request.user)
        .values_list("include_group_names", flat=True)
        .first()
    )
    body = build_calendar(
        sessions=[session], include_group_names=include_group_names, site_url=settings.SITE_URL
    )
    response = HttpResponse(body, content_type=CALENDAR_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="hearth-session-{session.pk}.ics"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def calendar_settings(request: HttpRequest) -> HttpResponse:
    """Show the private calendar address; choose group names or make a new address."""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "reset":
            calendar_feed_reset(actor=request.user)
            messages.success(
                request,
                "Your calendar has a new address. The old one no longer works, so please add "
                "the new one to your calendar app.",
            )
        elif action == "names":
            include = bool(request.POST.get("include_group_names"))
            calendar_feed_set_group_names(actor=request.user, include=include)
            messages.success(
                request,
                "Your calendar will now show group names."
                if include
                else "Your calendar will now say only “Hearth group session”.",
            )
        else:
            return HttpResponseBadRequest("Unknown action.")
        return redirect("groups:calendar_settings")
    feed = calendar_feed_get_or_create(actor=request.user)
    return render(
        request, "groups/calendar_settings.html", {"feed": feed, "feed_url": _feed_url(feed)}
    )
