from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_safe

from accounts.exceptions import ServiceError
from accounts.middleware import viewer_time_zone
from accounts.places import COUNTRIES, country_for_time_zone
from chat.models import Message, Participant
from groups.selectors import groups_visible_to
from moderation import services
from moderation.decisions import report_actions
from moderation.forms import DecisionForm, ReportForm
from moderation.models import CrisisLine, Report
from moderation.selectors import (
    crisis_lines_by_country,
    report_context,
    reports_for_reviewer,
    takes_part,
    with_subject_names,
)

_COUNTRY_NAMES = dict(COUNTRIES) | {CrisisLine.INTERNATIONAL: "Anywhere in the world"}


@require_safe
def help_now(request: HttpRequest) -> HttpResponse:
    """Crisis lines, for anyone, logged in or not: the person's own country first, guessed
    from their time zone when they have not said it, and its first number one tap away."""
    if "country" in request.GET:
        country, guessed = request.GET["country"].upper()[:2], False
    elif request.user.is_authenticated and request.user.country:
        country, guessed = request.user.country, False
    else:
        country = country_for_time_zone(viewer_time_zone(request))
        guessed = bool(country)
    by_country = crisis_lines_by_country(country=country)
    own_lines = by_country[0][1] if by_country and country and by_country[0][0] == country else []
    if guessed and not own_lines:
        country, guessed = "", False  # a guess we have no lines for is no guess
    return render(
        request,
        "moderation/help_now.html",
        {
            "country_groups": _named(by_country),
            "country": country,
            "country_name": _COUNTRY_NAMES.get(country, ""),
            "guessed": guessed,
            "first_line": next((line for line in own_lines if line.phone), None),
            "countries": COUNTRIES,
        },
    )


def _line_groups(country: str) -> list[dict[str, object]]:
    """Crisis lines by country, ``country``'s first, as the crisis lines template shows them."""
    return _named(crisis_lines_by_country(country=country))


def _named(by_country: list[tuple[str, list[CrisisLine]]]) -> list[dict[str, object]]:
    return [
        {"code": code, "name": _COUNTRY_NAMES.get(code, code), "lines": lines}
        for code, lines in by_country
    ]


@login_required
@require_http_methods(["GET", "POST"])
def report_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Report a message (?session=&position=), a member (?session=&participant=), or, with no
    parameters, a concern about the group itself (from the group page).

    Only for people taking part in the group (as ``report_file`` requires): anyone else gets
    a 404 before any message is looked up, so the page shows no one else's words.
    """
    group = get_object_or_404(groups_visible_to(request.user), slug=slug)
    if not takes_part(user=request.user, group=group):
        raise Http404
    message = subject = None
    # isdecimal, not isdigit: "²" is a digit that int() refuses (a 500 otherwise).
    session_id = request.GET.get("session", "")
    if session_id.isdecimal() and request.GET.get("position", "").isdecimal():
        message = get_object_or_404(
            Message.objects.select_related("author__user", "session"),
            session_id=int(session_id),
            session__group=group,
            position=int(request.GET["position"]),
        )
    elif session_id.isdecimal() and request.GET.get("participant", "").isdecimal():
        participant = get_object_or_404(
            Participant.objects.select_related("user"),
            pk=int(request.GET["participant"]),
            session_id=int(session_id),
            session__group=group,
        )
        subject = participant.user
    elif request.GET:
        raise Http404  # half an address is not a report about the group
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.report_file(
                actor=request.user,
                group=group,
                message=message,
                subject=subject,
                **form.cleaned_data,
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            if report.is_urgent:  # the reporter, too, may need help now
                return redirect("moderation:report_sent", report_id=report.pk)
            messages.success(
                request,
                "Thank you. The facilitators will look at your report; you will hear when it "
                "has been handled. The person you reported will not know it was you.",
            )
            return redirect("groups:detail", slug=group.slug)
    return render(
        request, "moderation/report_new.html", {"form": form, "group": group, "message": message}
    )


@login_required
@require_safe
def report_sent(request: HttpRequest, report_id: int) -> HttpResponse:
    """The reporter's confirmation of an urgent report, with the crisis lines for their country.

    Only the reporter's own reports: anyone else gets a 404."""
    report = get_object_or_404(
        Report.objects.select_related("group"), pk=report_id, reporter=request.user
    )
    return render(
        request,
        "moderation/report_sent.html",
        {"report": report, "country_groups": _line_groups(request.user.country)[:2]},
    )


@login_required
@require_safe
def report_queue(request: HttpRequest) -> HttpResponse:
    """Reports waiting for me: my groups' reports; for staff everything, escalations first."""
    return render(
        request,
        "moderation/report_queue.html",
        {
            "reports": list(reports_for_reviewer(user=request.user)),
            "is_staff": services.is_staff(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def report_detail(request: HttpRequest, report_id: int) -> HttpResponse:
    """One report with its context (pseudonyms only), and what can be done about it."""
    report = get_object_or_404(
        with_subject_names(Report.objects.select_related("group", "message")), pk=report_id
    )
    if not services.can_review(request.user, report):
        raise Http404
    form = DecisionForm(
        request.POST or None, actions=report_actions(reviewer=request.user, report=report)
    )
    if request.method == "GET":
        services.report_open(actor=request.user, report=report)
    elif form.is_valid():
        action, reason = form.cleaned_data["action"], form.cleaned_data["reason"]
        days = form.cleaned_data.get("days")
        until = timezone.now() + timedelta(days=days) if days else None
        try:
            services.report_decide(
                actor=request.user, report=report, action=action, reason=reason, until=until
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Done. The people concerned will be told.")
            return redirect("moderation:queue")
    return render(
        request,
        "moderation/report_detail.html",
        {"report": report, "context_messages": report_context(report=report), "form": form},
    )
