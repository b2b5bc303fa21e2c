"""Hearth's admin site: entered only through the allauth login, every change audited."""

from __future__ import annotations

from typing import Any

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.text import text_formfield
from moderation.audit import AuditAction, audit_record


class CleanTextAdminMixin:
    """Staff write people-facing text here too (guidelines, topics, crisis lines, reasons):
    it is cleaned and bounded as in every other form (``accounts.text``)."""

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_dbfield(db_field, request, **kwargs)  # type: ignore[misc]
        if field is None or field.disabled:
            return field
        cleaned = text_formfield(
            db_field,
            widget=field.widget,
            label=field.label,
            help_text=field.help_text,
            required=field.required,
            initial=field.initial,
        )
        return cleaned or field


class AuditedAdminMixin:
    """Write an audit event beside every admin log entry (add, change, delete)."""

    def _audit(self, request: HttpRequest, entry: LogEntry, action: AuditAction, obj: Any) -> None:
        audit_record(
            actor=request.user,
            action=action,
            target=obj if isinstance(obj, models.Model) and obj.pk is not None else None,
            details={"admin_log_entry": entry.pk, "content_type": entry.content_type_id},
        )

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> LogEntry:
        entry = super().log_addition(request, obj, message)  # type: ignore[misc]
        self._audit(request, entry, AuditAction.ADMIN_OBJECT_ADDED, obj)
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> LogEntry:
        entry = super().log_change(request, obj, message)  # type: ignore[misc]
        self._audit(request, entry, AuditAction.ADMIN_OBJECT_CHANGED, obj)
        return entry

    def log_deletions(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[LogEntry]:
        objects = list(queryset)
        entries = super().log_deletions(request, queryset)  # type: ignore[misc]
        for entry, obj in zip(entries, objects, strict=False):
            audit_record(
                actor=request.user,
                action=AuditAction.ADMIN_OBJECT_DELETED,
                target=obj,
                details={"admin_log_entry": entry.pk, "content_type": entry.content_type_id},
            )
        return entries


class HearthAdminSite(admin.AdminSite):
    site_header = "Hearth staff"
    site_title = "Hearth staff"
    index_title = "Staff tools"

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        """Send everyone through allauth's login, so rate limits and two-step login apply."""
        return secure_admin_login(super().login)(request, extra_context)

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Register as usual, with the audit and clean-text mixins folded into every model
        admin."""
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AuditedAdminMixin):
            admin_class = type(
                f"Audited{admin_class.__name__}",
                (AuditedAdminMixin, CleanTextAdminMixin, admin_class),
                {},
            )
        super().register(model_or_iterable, admin_class, **options)
