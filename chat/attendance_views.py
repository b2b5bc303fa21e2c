"""A session's attendance records for its facilitators: a page, and the same as CSV.

Thin adapters over ``chat.services.attendance_open`` (which records every reading); anyone but
the group's facilitators gets a 404.
"""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.models import User
from accounts.text import spreadsheet_safe
from chat.attendance import ATTENDANCE_CSV_HEADER, attendance_csv_row
from chat.services import attendance_open
from groups.models import GroupSession
from groups.selectors import session_for_facilitator


def _facilitated(request: HttpRequest, session_id: int) -> tuple[User, GroupSession]:
    """The person asking and the session, if they facilitate its group; a 404 otherwise."""
    user = request.user
    assert isinstance(user, User)  # login_required
    session = session_for_facilitator(viewer=user, session_id=session_id)
    if session is None:
        raise Http404
    return user, session


@login_required
@require_safe
def attendance(request: HttpRequest, session_id: int) -> HttpResponse:
    """Who came to a session: one row per person, for its facilitators."""
    user, session = _facilitated(request, session_id)
    records = attendance_open(actor=user, session=session, now=timezone.now())
    return render(
        request,
        "chat/attendance.html",
        {"session": session, "group": session.group, "records": records},
    )


@login_required
@require_safe
def attendance_csv(request: HttpRequest, session_id: int) -> HttpResponse:
    """The same records as CSV, for the facilitators' clinical records."""
    user, session = _facilitated(request, session_id)
    records = attendance_open(actor=user, session=session, now=timezone.now(), download=True)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="attendance-session-{session.pk}.csv"'
    writer = csv.writer(response)
    writer.writerow(ATTENDANCE_CSV_HEADER)
    for record in records:
        writer.writerow([spreadsheet_safe(cell) for cell in attendance_csv_row(record)])
    return response
