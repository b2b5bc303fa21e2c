"""The audit log for staff: filter by actor, action, target, group and time; export as CSV."""

from __future__ import annotations

import csv
from datetime import datetime, time

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from moderation.audit import AuditAction, audit_record
from moderation.models import AuditEvent
from moderation.services import is_staff


class AuditFilterForm(forms.Form):
    actor = forms.IntegerField(label="Actor (person id)", required=False, min_value=1)
    action = forms.ChoiceField(
        label="Action", required=False, choices=[("", "Any action"), *AuditAction.choices]
    )
    target_type = forms.CharField(
        label="Target type (such as groups.therapygroup)", required=False, max_length=64
    )
    target_id = forms.CharField(label="Target id", required=False, max_length=64)
    group = forms.IntegerField(label="Group id", required=False, min_value=1)
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To (inclusive)", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


def _filtered(form: AuditFilterForm) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.select_related("actor").order_by("-created_at", "-id")
    data = form.cleaned_data if form.is_valid() else {}
    if data.get("actor"):
        events = events.filter(actor_id=data["actor"])
    if data.get("action"):
        events = events.filter(action=data["action"])
    if data.get("target_type"):
        events = events.filter(target_type=data["target_type"].strip().lower())
    if data.get("target_id"):
        events = events.filter(target_id=data["target_id"].strip())
    if data.get("group"):
        events = events.filter(group_id=data["group"])
    zone = timezone.get_current_timezone()
    if data.get("since"):
        events = events.filter(
            created_at__gte=datetime.combine(data["since"], time.min, tzinfo=zone)
        )
    if data.get("until"):
        events = events.filter(
            created_at__lte=datetime.combine(data["until"], time.max, tzinfo=zone)
        )
    return events


def _staff_only(request: HttpRequest) -> None:
    if not is_staff(request.user):
        raise Http404


@login_required
@require_safe
def audit_log(request: HttpRequest) -> HttpResponse:
    """Search the audit log (staff only)."""
    _staff_only(request)
    form = AuditFilterForm(request.GET or None)
    page = Paginator(_filtered(form), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "moderation/audit_log.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


@login_required
@require_safe
def audit_export(request: HttpRequest) -> HttpResponse:
    """The filtered audit log as CSV (staff only; the export itself is recorded)."""
    _staff_only(request)
    form = AuditFilterForm(request.GET or None)
    events = _filtered(form)
    audit_record(
        actor=request.user,
        action=AuditAction.AUDIT_EXPORTED,
        details={"rows": events.count()},
    )
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="hearth-audit.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "time_utc",
            "actor_id",
            "action",
            "target_type",
            "target_id",
            "group_id",
            "session_id",
            "ip_address",
            "details",
        ]
    )
    for event in events.iterator(chunk_size=2000):
        writer.writerow(
            [
                event.created_at.isoformat(),
                event.actor_id or "",
                event.action,
                event.target_type,
                event.target_id,
                event.group_id or "",
                event.session_id or "",
                event.ip_address or "",
                event.details,
            ]
        )
    return response
