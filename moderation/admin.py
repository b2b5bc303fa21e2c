from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.http import HttpRequest, HttpResponse

from moderation.models import AuditEvent, CrisisLine, Report, Sanction


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: audit rows can be searched, never changed or removed."""

    list_display = ["created_at", "action", "actor", "target_type", "target_id", "ip_address"]
    list_filter = ["action", "target_type"]
    search_fields = ["target_id", "actor__display_name"]
    list_select_related = ["actor"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CrisisLine)
class CrisisLineAdmin(admin.ModelAdmin):
    list_display = ["name", "country", "phone", "text", "hours", "is_active", "sort_order"]
    list_filter = ["country", "is_active"]
    search_fields = ["name", "description"]
    list_editable = ["is_active", "sort_order"]
    formfield_overrides = {
        models.URLField: {"form_class": forms.URLField, "assume_scheme": "https"},
    }


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    """Staff see every report here; decisions are taken on the review page (audited).

    Opening a report here is recorded as on the review page, and refused the same way (nobody
    opens a report about themselves).
    """

    list_display = ["created_at", "reason", "status", "outcome", "group"]
    list_filter = ["status", "reason", "outcome"]
    search_fields = ["group__title"]
    list_select_related = ["group"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Report._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        from accounts.exceptions import ServiceError
        from moderation.services import report_open

        report = self.get_object(request, unquote(object_id))
        if report is not None and request.method in ("GET", "HEAD"):
            if not self.has_view_or_change_permission(request, report):
                raise PermissionDenied
            try:
                report_open(actor=request.user, report=report)  # type: ignore[arg-type]
            except ServiceError as refusal:
                raise PermissionDenied(refusal.message) from refusal
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Sanction)
class SanctionAdmin(admin.ModelAdmin):
    list_display = ["subject", "kind", "group", "starts_at", "ends_at", "lifted_at"]
    list_filter = ["kind", "lifted_at"]
    search_fields = ["subject__display_name", "subject__email", "reason"]
    list_select_related = ["subject", "group"]
    readonly_fields = [f.name for f in Sanction._meta.fields]
    actions = ["lift"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Lift the selected sanctions now")
    def lift(self, request: HttpRequest, queryset: Any) -> None:
        from accounts.exceptions import ServiceError
        from moderation.services import sanction_lift

        for sanction in queryset:
            try:
                sanction_lift(actor=request.user, sanction=sanction)
            except ServiceError as error:
                self.message_user(request, error.message, level="error")
