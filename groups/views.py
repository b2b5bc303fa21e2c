"""Group pages: thin adapters that parse a form, call one service and render.

Anything addressed by a slug or id answers 404 to a person who may not see it.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.exceptions import ServiceError
from accounts.middleware import viewer_time_zone
from accounts.models import User
from accounts.selectors import therapist_applications_for
from config.fragments import csrf_field, render_rows
from config.page_cache import anonymous_cacheable, shared_part
from groups import rights, selectors, services
from groups.finder import groups_suggested as finder_groups_suggested
from groups.forms import (
    CancelForm,
    CoFacilitatorForm,
    DirectoryForm,
    FinderForm,
    GroupForm,
    InviteForm,
    JoinForm,
    RemoveMemberForm,
    RescheduleForm,
    ScheduleForm,
    initial_for_session,
)
from groups.models import Enrollment, GroupSession, Invitation, ReminderPreference, TherapyGroup
from groups.reminders import preference_for
from groups.scheduling import to_local
from groups.templatetags.waiting import place_in_line


def token_from_path(token: str) -> str:
    """A secret token from the address, to look up; 404 if it holds a NUL byte, which no token
    of ours has and PostgreSQL refuses even to compare (a 500 otherwise)."""
    if "\x00" in token:
        raise Http404
    return token


def _managed_group(request: HttpRequest, slug: str, right: str) -> TherapyGroup:
    """The group, if the viewer holds ``right`` on it; otherwise 404."""
    group = get_object_or_404(TherapyGroup, slug=slug)
    if not rights.has_right(user=request.user, group=group, right=right):
        raise Http404
    return group


# --- Finding and joining ----------------------------------------------------------------------


@anonymous_cacheable
@require_safe
def directory(request: HttpRequest) -> HttpResponse:
    """Find a group by topic, kind, day, time of day in my zone, language and free places.

    The filters and the list are the same for everyone who sees the same groups in the same
    zone, so they are shared through the cache (a logged-in person's page is not).
    """
    zone = viewer_time_zone(request)
    query = request.GET.copy()
    query.pop("page", None)

    def results() -> str:
        form = DirectoryForm(request.GET or None)
        groups = selectors.directory(viewer=request.user, filters=form.filters(), viewer_zone=zone)
        page = Paginator(groups, 20).get_page(request.GET.get("page"))
        return render_to_string(
            "groups/_directory_results.html",
            {"form": form, "page": page, "query": query.urlencode()},
        )

    audience = selectors.directory_audience(viewer=request.user)
    if audience is None:
        html = mark_safe(results())
    else:
        vary = (request.get_full_path(), zone, audience)
        html = shared_part(name="directory", vary=vary, render=results)
    return render(request, "groups/directory.html", {"results": html})


@require_http_methods(["GET", "POST"])
def finder(request: HttpRequest) -> HttpResponse:
    """A few optional questions, and the groups that fit the answers, with the reasons.

    Nothing is kept unless a logged-in person asks (POST "keep"); they can forget it again.
    """
    user = request.user
    kept = getattr(user, "finder_answers", None) if user.is_authenticated else None
    if request.method == "POST":
        if not user.is_authenticated:
            return redirect(f"{reverse('account_login')}?next={reverse('groups:finder')}")
        form = FinderForm(request.POST)
        answers = form.answers()
        if request.POST.get("action") == "forget":
            services.finder_answers_forget(actor=user)
            messages.success(request, "Your answers are forgotten.")
            return redirect("groups:finder")
        if answers is not None:
            try:
                services.finder_answers_keep(actor=user, answers=answers)
            except ServiceError as error:
                messages.error(request, error.message)
            else:
                messages.success(request, "Your answers are kept for next time.")
        return redirect(f"{reverse('groups:finder')}?{request.POST.urlencode()}")
    if request.GET:
        form = FinderForm(request.GET)
    elif kept is not None:
        form = FinderForm.from_kept(kept.answers)
    else:
        form = FinderForm()
    answers = form.answers()
    suggestions = (
        finder_groups_suggested(viewer=user, answers=answers, viewer_zone=viewer_time_zone(request))
        if answers is not None
        else None
    )
    query = request.GET.copy() if request.GET else None
    return render(
        request,
        "groups/finder.html",
        {
            "form": form,
            "suggestions": suggestions,
            "kept": kept,
            "query": query.urlencode() if query else "",
        },
    )


# Refusals about the chosen name belong beside the name field, with what was typed kept.
PSEUDONYM_ERRORS = ("pseudonym", "pseudonym_taken")


def _group_page(request: HttpRequest, slug: str, join_form: JoinForm | None = None) -> HttpResponse:
    page = selectors.group_page(viewer=request.user, slug=slug)
    if page is None:
        raise Http404
    if join_form is None:
        join_form = JoinForm(initial={"pseudonym": getattr(request.user, "display_name", "")})
    takes_part = page.takes_part

    def details() -> str:
        shown = selectors.group_details(group_id=page.group.pk)
        return render_to_string(
            "groups/_group_details.html",
            {"group": shown.group, "sessions": shown.sessions, "takes_part": takes_part},
        )

    # The details are the same for everyone who may see the group, in the same zone, who
    # takes part (calendar links) or not: shared through the cache.
    vary = (page.group.pk, viewer_time_zone(request), takes_part)
    return render(
        request,
        "groups/group_detail.html",
        {
            "page": page,
            "group": page.group,
            "details": shared_part(name="group", vary=vary, render=details),
            "join_form": join_form,
            "can_manage": rights.VIEW_ROSTER in page.rights,
        },
    )


@anonymous_cacheable
@require_safe
def group_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """A group, its next sessions in my zone, seats left, and what I can do."""
    return _group_page(request, slug)


@login_required
@require_POST
def join(request: HttpRequest, slug: str) -> HttpResponse:
    """Take a place in the group, or on its waiting list when it is full."""
    group = get_object_or_404(selectors.groups_visible_to(request.user), slug=slug)
    form = JoinForm(request.POST)
    if not form.is_valid():
        return _group_page(request, slug, join_form=form)
    try:
        enrollment = services.enrollment_create(
            actor=request.user, group=group, pseudonym=form.cleaned_data["pseudonym"]
        )
    except ServiceError as error:
        if error.code in PSEUDONYM_ERRORS:
            form.add_error("pseudonym", error.message)
            return _group_page(request, slug, join_form=form)
        messages.error(request, error.message)
        if error.code == "guidelines_required":
            return redirect(f"{reverse('guidelines')}?next={group_url(group)}")
        return redirect(group_url(group))
    if enrollment.state == Enrollment.State.ACTIVE:
        messages.success(
            request,
            format_html(
                "You have a place in this group. Its sessions are in My schedule. {}",
                practice_offer(),
            ),
        )
    else:
        place = place_in_line(selectors.waitlist_place(enrollment=enrollment))
        messages.info(
            request,
            f"The group is full, so you are {place} on the waiting list. "
            "We will email you if a place becomes free.",
        )
    return redirect(group_url(group))


@login_required
@require_http_methods(["GET", "POST"])
def leave(request: HttpRequest, slug: str) -> HttpResponse:
    """Ask once, then leave the group or its waiting list.

    Only the confirmation form's POST (with ``confirm``) leaves; any other POST is asked too.
    """
    enrollment = get_object_or_404(
        Enrollment.objects.select_related("group"),
        group__slug=slug,
        user=request.user,
        state__in=selectors.LIVE_STATES,
    )
    was_waiting = enrollment.state == Enrollment.State.WAITLISTED
    if request.method == "GET" or request.POST.get("confirm") != "yes":
        return render(
            request,
            "groups/leave.html",
            {"group": enrollment.group, "enrollment": enrollment, "waiting": was_waiting},
        )
    try:
        services.enrollment_withdraw(actor=request.user, enrollment=enrollment)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            "You have left the waiting list." if was_waiting else "You have left the group.",
        )
    return redirect(group_url(enrollment.group))


def group_url(group: TherapyGroup) -> str:
    return reverse("groups:detail", args=[group.slug])


def practice_offer() -> str:
    """The way to the practice room a new member is offered (chat.practice)."""
    return format_html(
        '<a href="{}">Try the room before your first session</a>.', reverse("chat:practice")
    )


@login_required
@require_safe
def my_schedule(request: HttpRequest) -> HttpResponse:
    """My upcoming sessions in my zone, with a way in while a room is open."""
    rows, lists = selectors.my_schedule_page(user=request.user, now=timezone.now())
    return render(
        request,
        "groups/my_schedule.html",
        {
            "sessions": rows,
            "session_items": render_rows("groups/_schedule_session.html", rows),
            "waiting": lists.waiting,
            "waiting_items": render_rows("groups/_schedule_waiting.html", lists.waiting),
            "invitations": lists.invitations,
            "invitation_items": render_rows("groups/_schedule_invitation.html", lists.invitations),
            "checkouts": lists.checkouts,
            "checkout_items": render_rows("groups/_schedule_checkout.html", lists.checkouts),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """See an invitation to a closed group, and accept or decline it."""
    invite = get_object_or_404(
        Invitation.objects.select_related("group__topic"), token=token_from_path(token)
    )
    addressed_to_me = (
        invite.invitee_id == request.user.pk
        if invite.invitee_id
        else bool(request.user.email) and invite.email.casefold() == request.user.email.casefold()
    )
    if not addressed_to_me:
        raise Http404
    # Bound on every POST, even an empty one: the note below is added to a bound form.
    form = JoinForm(
        request.POST if request.method == "POST" else None,
        initial={"pseudonym": request.user.display_name},
    )
    answer = request.POST.get("answer")
    if request.method == "POST" and answer not in ("accept", "decline"):
        form.add_error(None, "Please choose “Accept and join” or “No, thank you”.")
    elif request.method == "POST" and (answer == "decline" or form.is_valid()):
        try:
            if answer == "decline":
                services.invitation_decline(actor=request.user, invitation=invite)
                messages.info(request, "You declined the invitation.")
                return redirect("groups:my_schedule")
            services.invitation_accept(
                actor=request.user, invitation=invite, pseudonym=form.cleaned_data["pseudonym"]
            )
        except ServiceError as error:
            if error.code in PSEUDONYM_ERRORS:
                form.add_error("pseudonym", error.message)
            else:
                messages.error(request, error.message)
            if error.code == "guidelines_required":
                return redirect(f"{reverse('guidelines')}?next={request.path}")
        else:
            messages.success(
                request,
                format_html("Welcome. You are now part of this group. {}", practice_offer()),
            )
            return redirect(group_url(invite.group))
    return render(
        request,
        "groups/invitation.html",
        {"invitation": invite, "form": form, "is_pending": invite.is_pending_at(timezone.now())},
    )


# --- Facilitating ---------------------------------------------------------------------------


@login_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    """The groups I facilitate and their coming sessions."""
    groups, sessions = selectors.dashboard_page(user=request.user, now=timezone.now())
    return render(
        request,
        "groups/dashboard.html",
        {
            "groups": groups,
            "group_items": render_rows("groups/_dashboard_group.html", groups),
            "sessions": sessions,
            "session_items": render_rows("groups/_dashboard_session.html", sessions),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def group_create(request: HttpRequest) -> HttpResponse:
    """Start a new group, led by me; someone who may not lead one is told how to apply first."""
    user = request.user
    assert isinstance(user, User)  # login_required
    if not services.may_start_a_group(user):
        application = therapist_applications_for(user=user).first()
        return render(request, "groups/cannot_start.html", {"application": application})
    form = GroupForm(request.POST or None, initial={"time_zone": request.user.time_zone})
    if request.method == "POST" and form.is_valid():
        try:
            group = services.group_create(actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Your group is ready. Next, plan its sessions.")
            return redirect("groups:schedule", slug=group.slug)
    return render(request, "groups/group_form.html", {"form": form, "group": None})


@login_required
@require_http_methods(["GET", "POST"])
def group_edit(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a group's details."""
    group = _managed_group(request, slug, rights.FACILITATE)
    initial = {name: getattr(group, name) for name in services.EDITABLE_FIELDS}
    form = GroupForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.group_update(actor=request.user, group=group, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "The group is saved.")
            return redirect("groups:manage", slug=group.slug)
    return render(request, "groups/group_form.html", {"form": form, "group": group})


@login_required
@require_POST
def group_archive(request: HttpRequest, slug: str) -> HttpResponse:
    """End the group: cancel its future sessions and take it out of the directory."""
    group = _managed_group(request, slug, rights.FACILITATE)
    try:
        services.group_archive(actor=request.user, group=group)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The group is archived.")
    return redirect("groups:dashboard")


@functools.lru_cache(maxsize=8)
def _blank_form_fields(form_class: type[Form], language: str | None) -> str:
    """The fields of an empty ``form_class`` as includes/form_fields.html prints them: the
    same for everyone, so printed once per process (and language)."""
    return render_to_string("includes/form_fields.html", {"form": form_class()})


@login_required
@require_safe
def manage(request: HttpRequest, slug: str) -> HttpResponse:
    """The facilitator's view: roster, waiting list, invitations and sessions."""
    page = selectors.manage_page(viewer=request.user, slug=slug)
    if page is None:
        raise Http404
    group = page.group
    language = get_language()
    csrf_token = get_token(request)  # one for the page, as the template's own would be
    field = csrf_field(csrf_token)
    return render(
        request,
        "groups/manage.html",
        {
            "csrf_token": csrf_token,
            "page": page,
            "group": group,
            "session_items": render_rows("groups/_manage_session.html", page.sessions),
            "member_items": render_rows("groups/_manage_member.html", page.members, field),
            "waiting_items": render_rows("groups/_manage_waiting.html", page.waiting, field),
            "invitation_items": render_rows(
                "groups/_manage_invitation.html", page.invitations, field
            ),
            "remove_help": RemoveMemberForm.base_fields["reason"].help_text,
            "invite_fields": mark_safe(_blank_form_fields(InviteForm, language))
            if group.is_closed
            else "",
            "co_facilitator_fields": mark_safe(_blank_form_fields(CoFacilitatorForm, language))
            if request.user.pk == group.facilitator_id
            else "",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def schedule(request: HttpRequest, slug: str) -> HttpResponse:
    """Plan one session or a weekly series, in the group's time zone."""
    group = _managed_group(request, slug, rights.MANAGE_SESSIONS)
    form = ScheduleForm(request.POST or None, time_zone=group.time_zone)
    if request.method == "POST" and form.is_valid():
        common = {
            "actor": request.user,
            "group": group,
            "duration_minutes": form.cleaned_data["duration"],
            "room_opens_minutes": form.cleaned_data["room_opens_minutes"],
        }
        try:
            recurrence = form.recurrence()
            if recurrence is None:
                services.session_schedule(starts_local=form.starts_local(), **common)
                created = 1
            else:
                created = len(
                    services.series_schedule(
                        first_start_local=form.starts_local(), recurrence=recurrence, **common
                    )
                )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                "1 session is planned." if created == 1 else f"{created} sessions are planned.",
            )
            return redirect("groups:manage", slug=group.slug)
    return render(request, "groups/schedule.html", {"form": form, "group": group})


def _managed_session(request: HttpRequest, session_id: int) -> GroupSession:
    session = get_object_or_404(GroupSession.objects.select_related("group"), pk=session_id)
    if not rights.has_right(user=request.user, group=session.group, right=rights.MANAGE_SESSIONS):
        raise Http404
    return session


@login_required
@require_http_methods(["GET", "POST"])
def session_reschedule(request: HttpRequest, session_id: int) -> HttpResponse:
    """Move a session (or the rest of its series), telling members why."""
    session = _managed_session(request, session_id)
    local = to_local(session.starts_at, time_zone=session.group.time_zone)
    minutes = int((session.ends_at - session.starts_at).total_seconds() // 60)
    form = RescheduleForm(
        request.POST or None,
        initial=initial_for_session(local, minutes),
        time_zone=session.group.time_zone,
    )
    if session.series_id is None:
        del form.fields["rest_of_series"]
    if request.method == "POST" and form.is_valid():
        try:
            moved = services.session_reschedule(
                actor=request.user,
                session=session,
                starts_local=form.starts_local(),
                duration_minutes=form.cleaned_data["duration"],
                reason=form.cleaned_data["reason"],
                rest_of_series=form.cleaned_data.get("rest_of_series", False),
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Moved {len(moved)} session(s). Members will be told.")
            return redirect("groups:manage", slug=session.group.slug)
    return render(
        request,
        "groups/session_change.html",
        {"form": form, "session": session, "change": "reschedule"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def session_cancel(request: HttpRequest, session_id: int) -> HttpResponse:
    """Cancel a session (or the rest of its series), telling members why."""
    session = _managed_session(request, session_id)
    form = CancelForm(request.POST or None)
    if session.series_id is None:
        del form.fields["rest_of_series"]
    if request.method == "POST" and form.is_valid():
        try:
            cancelled = services.session_cancel(
                actor=request.user, session=session, **form.cleaned_data
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(
                request, f"Cancelled {len(cancelled)} session(s). Members will be told."
            )
            return redirect("groups:manage", slug=session.group.slug)
    return render(
        request,
        "groups/session_change.html",
        {"form": form, "session": session, "change": "cancel"},
    )


def _roster_enrollment(request: HttpRequest, slug: str, enrollment_id: int) -> Enrollment:
    group = _managed_group(request, slug, rights.VIEW_ROSTER)
    return get_object_or_404(
        Enrollment.objects.select_related("group"), pk=enrollment_id, group=group
    )


@login_required
@require_POST
def member_remove(request: HttpRequest, slug: str, enrollment_id: int) -> HttpResponse:
    """Remove a member or someone waiting, with a reason."""
    enrollment = _roster_enrollment(request, slug, enrollment_id)
    form = RemoveMemberForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            "Please note a short reason for removing them."
            if form.has_error("reason", code="required")
            else " ".join(str(note) for note in form.errors["reason"]),
        )
    else:
        try:
            services.enrollment_remove(
                actor=request.user, enrollment=enrollment, **form.cleaned_data
            )
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"{enrollment.pseudonym} has been removed from the group.")
    return redirect("groups:manage", slug=slug)


@login_required
@require_POST
def member_admit(request: HttpRequest, slug: str, enrollment_id: int) -> HttpResponse:
    """Give someone on the waiting list a place now."""
    enrollment = _roster_enrollment(request, slug, enrollment_id)
    try:
        services.enrollment_admit(actor=request.user, enrollment=enrollment)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{enrollment.pseudonym} now has a place.")
    return redirect("groups:manage", slug=slug)


@login_required
@require_POST
def invite(request: HttpRequest, slug: str) -> HttpResponse:
    """Invite someone to this closed group by email."""
    group = _managed_group(request, slug, rights.FACILITATE)
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please enter a valid email address.")
    else:
        try:
            services.invitation_send(actor=request.user, group=group, **form.cleaned_data)
        except ServiceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "The invitation is on its way.")
    return redirect("groups:manage", slug=slug)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    """Withdraw an invitation that has not been answered."""
    group = _managed_group(request, slug, rights.FACILITATE)
    invite_ = get_object_or_404(Invitation, pk=invitation_id, group=group)
    try:
        services.invitation_revoke(actor=request.user, invitation=invite_)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The invitation was withdrawn.")
    return redirect("groups:manage", slug=slug)


@login_required
@require_POST
def co_facilitator_add(request: HttpRequest, slug: str) -> HttpResponse:
    """The lead facilitator adds a colleague as co-facilitator, by their email address."""
    group = _managed_group(request, slug, rights.FACILITATE)
    form = CoFacilitatorForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please enter your colleague's email address on Hearth.")
        return redirect("groups:manage", slug=slug)
    colleague = User.objects.filter(
        email__iexact=form.cleaned_data["email"], is_active=True
    ).first()
    if colleague is None:
        messages.error(request, "We could not find a Hearth account with that email address.")
        return redirect("groups:manage", slug=slug)
    try:
        services.co_facilitator_add(actor=request.user, group=group, user=colleague)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{colleague.display_name} now co-facilitates this group.")
    return redirect("groups:manage", slug=slug)


@login_required
@require_POST
def co_facilitator_remove(request: HttpRequest, slug: str, user_id: int) -> HttpResponse:
    """Remove a co-facilitator, or step down yourself; their rights end at once."""
    group = _managed_group(request, slug, rights.FACILITATE)
    colleague = get_object_or_404(group.co_facilitators, pk=user_id)
    try:
        services.co_facilitator_remove(actor=request.user, group=group, user=colleague)
    except ServiceError as error:
        messages.error(request, error.message)
        return redirect("groups:manage", slug=slug)
    if colleague.pk == request.user.pk:
        messages.success(request, "You have stepped down as co-facilitator.")
        return redirect("groups:dashboard")
    messages.success(request, f"{colleague.display_name} no longer co-facilitates this group.")
    return redirect("groups:manage", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def reminder_settings(request: HttpRequest) -> HttpResponse:
    """Choose which session reminders to get."""
    preference = preference_for(request.user)
    if request.method == "POST":
        preference.day_before = bool(request.POST.get("day_before"))
        preference.quarter_hour = bool(request.POST.get("quarter_hour"))
        preference.save(update_fields=["day_before", "quarter_hour"])
        messages.success(request, "Your reminder choices are saved.")
        return redirect("groups:reminder_settings")
    return render(request, "groups/reminders.html", {"preference": preference})


@csrf_exempt  # one-click unsubscribe (RFC 8058): mail clients POST without our form
@require_http_methods(["GET", "POST"])
def reminders_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """Stop all session reminders, from the link in any reminder (no login needed)."""
    preference = get_object_or_404(ReminderPreference, unsubscribe_token=token_from_path(token))
    if request.method == "POST":
        preference.day_before = preference.quarter_hour = False
        preference.save(update_fields=["day_before", "quarter_hour"])
        return render(request, "groups/unsubscribed.html")
    return render(request, "groups/unsubscribe.html", {"token": token})
