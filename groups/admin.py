"""Staff tools for groups. Topics are edited freely; group changes are audited by the site."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from groups.models import Enrollment, GroupSession, Invitation, TherapyGroup, Topic


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "sort_order", "is_active"]
    list_editable = ["sort_order", "is_active"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only the services write (so rights, waiting lists and audit stay right)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TherapyGroup)
class TherapyGroupAdmin(ReadOnlyAdmin):
    list_display = ["title", "kind", "topic", "facilitator", "capacity", "is_listed", "is_closed"]
    list_filter = ["kind", "topic", "is_listed", "is_closed", "language", "archived_at"]
    search_fields = ["title", "slug", "facilitator__display_name"]
    list_select_related = ["topic", "facilitator"]


@admin.register(GroupSession)
class GroupSessionAdmin(ReadOnlyAdmin):
    list_display = ["group", "starts_at", "ends_at", "cancelled_at", "closed_at"]
    list_filter = ["cancelled_at", "starts_at"]
    search_fields = ["group__title"]
    list_select_related = ["group"]
    date_hierarchy = "starts_at"


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    """Staff see who is behind a per-group name; facilitators see only the name."""

    list_display = ["pseudonym", "user_email", "group", "state", "waitlist_position", "created_at"]
    list_filter = ["state"]
    search_fields = ["pseudonym", "group__title", "user__email"]
    list_select_related = ["group", "user"]
    readonly_fields = ["user_email"]

    @admin.display(description="Email", ordering="user__email")
    def user_email(self, enrollment: Enrollment) -> str:
        return enrollment.user.email


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ["group", "email", "invitee", "created_at", "expires_at", "accepted_at"]
    search_fields = ["group__title", "email"]
    list_select_related = ["group", "invitee"]
    exclude = ["token"]
