from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.http import HttpRequest

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
    """Staff see every report here; decisions are taken on the review page (audited)."""

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
