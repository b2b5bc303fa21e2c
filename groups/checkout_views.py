"""Check-out pages: a member answers for a session they were part of; the group's
facilitators read the answers by session. Thin adapters over ``groups.services.checkout``;
anyone else gets a 404."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from accounts.exceptions import ServiceError
from accounts.models import User
from groups import services
from groups.checkout import checkout_of, checkout_open_at, is_active_member
from groups.forms import CheckOutForm
from groups.selectors import groups_facilitated_by, session_for_participant


@login_required
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest, session_id: int) -> HttpResponse:
    """ "How was today for you?" for one session: the member's own answer, which they may give
    or change for a day after the session ends."""
    assert isinstance(request.user, User)
    session = session_for_participant(viewer=request.user, session_id=session_id)
    if session is None or not is_active_member(user=request.user, group_id=session.group_id):
        raise Http404
    now = timezone.now()
    answer = checkout_of(user=request.user, session=session)
    initial = {"feeling": answer.feeling, "words": answer.words} if answer else None
    form = CheckOutForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.checkout_answer(
                actor=request.user, session=session, now=now, **form.cleaned_data
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Thank you. Your answer is saved.")
            return redirect("groups:checkout", session_id=session.pk)
    return render(
        request,
        "groups/checkout.html",
        {
            "session": session,
            "group": session.group,
            "answer": answer,
            "form": form,
            "is_open": checkout_open_at(session, now),
            "not_yet": session.cancelled_at is None and now < session.closes_at,
        },
    )


@login_required
@require_safe
def group_checkouts(request: HttpRequest, slug: str) -> HttpResponse:
    """The group's check-out answers, session by session, for its facilitators."""
    assert isinstance(request.user, User)
    group = groups_facilitated_by(request.user).filter(slug=slug).first()
    if group is None:
        raise Http404
    sessions = services.checkouts_open(actor=request.user, group=group, now=timezone.now())
    return render(request, "groups/group_checkouts.html", {"group": group, "sessions": sessions})
