"""Facilitators' private notes: a page per session, a form per member. Thin adapters over
``groups.services.notes``; anyone but the group's facilitators gets a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from accounts.exceptions import ServiceError
from accounts.models import User
from groups import selectors, services
from groups.forms import NoteForm
from groups.models import Enrollment, GroupSession


def _session(request: HttpRequest, session_id: int) -> GroupSession:
    assert isinstance(request.user, User)
    session = selectors.session_for_facilitator(viewer=request.user, session_id=session_id)
    if session is None:
        raise Http404
    return session


def _note_created(
    request: HttpRequest, form: NoteForm, *, session: GroupSession, subject: User | None
) -> bool:
    """Save the note the form holds, or put the refusal on the form; whether it was saved."""
    if not form.is_valid():
        return False
    try:
        services.note_create(
            actor=request.user, session=session, subject=subject, **form.cleaned_data
        )
    except ServiceError as error:
        form.add_error(None, error.message)
        return False
    messages.success(request, "Note saved. Only this group's facilitators can read it.")
    return True


@login_required
@require_http_methods(["GET", "POST"])
def session_notes(request: HttpRequest, session_id: int) -> HttpResponse:
    """The session's notes, and a note on the whole session."""
    session = _session(request, session_id)
    form = NoteForm(request.POST or None)
    if request.method == "POST" and _note_created(request, form, session=session, subject=None):
        return redirect("groups:session_notes", session_id=session.pk)
    return render(
        request,
        "groups/session_notes.html",
        {
            "session": session,
            "notes": services.notes_open(actor=request.user, session=session),
            "members": selectors.session_members(session=session),
            "form": form,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def member_notes(request: HttpRequest, session_id: int, enrollment_id: int) -> HttpResponse:
    """The notes on one member in this session, and a note on them."""
    session = _session(request, session_id)
    enrollment = get_object_or_404(
        Enrollment.objects.select_related("user").exclude(state=Enrollment.State.WAITLISTED),
        pk=enrollment_id,
        group_id=session.group_id,
    )
    form = NoteForm(request.POST or None)
    if request.method == "POST" and _note_created(
        request, form, session=session, subject=enrollment.user
    ):
        return redirect("groups:session_notes", session_id=session.pk)
    return render(
        request,
        "groups/member_notes.html",
        {
            "session": session,
            "enrollment": enrollment,
            "notes": services.notes_open(
                actor=request.user, session=session, subject=enrollment.user
            ),
            "form": form,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def note_edit(request: HttpRequest, note_id: int) -> HttpResponse:
    """Change a note one wrote (reading it to change it is recorded as a read)."""
    assert isinstance(request.user, User)
    note = selectors.note_for_author(viewer=request.user, note_id=note_id)
    if note is None:
        raise Http404
    form = NoteForm(request.POST or None, initial={"body": note.body})
    if request.method == "POST" and form.is_valid():
        try:
            services.note_update(actor=request.user, note=note, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Note changed.")
            return redirect("groups:session_notes", session_id=note.session_id)
    else:
        services.notes_open(actor=request.user, session=note.session, subject=note.subject)
    return render(request, "groups/note_edit.html", {"note": note, "form": form})
