"""Staff tools for people, therapist verification and guidelines. Every write goes through a
service, so the audit log and the rules are the same as everywhere else."""

from __future__ import annotations

from typing import Any

from allauth.usersessions.admin import UserSessionAdmin as AllauthUserSessionAdmin
from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.exceptions import ServiceError
from accounts.models import (
    APPLICATION_REASON_MAX,
    GuidelinesVersion,
    TherapistApplication,
    User,
)
from accounts.roles import Role
from accounts.services import (
    guidelines_publish,
    role_grant,
    role_revoke,
    therapist_application_reject,
    therapist_application_verify,
)
from accounts.text import CleanTextField


def _run_for_each(request: HttpRequest, queryset: QuerySet[Any], call: Any, done: str) -> None:
    """Call a service per selected row, reporting each refusal in plain words."""
    count = 0
    for obj in queryset:
        try:
            call(obj)
        except ServiceError as error:
            messages.error(request, f"{obj}: {error.message}")
        else:
            count += 1
    if count:
        messages.success(request, done.format(count=count))


def _role_action(role: Role, *, grant: bool, note: str = "") -> Any:
    """An admin action that grants or revokes ``role`` through the service, one person at a time."""
    label = role.label.lower()
    service = role_grant if grant else role_revoke
    if grant:
        description, done = f"Appoint as {label}", f"{{count}} appointed as {label}."
    else:
        description, done = (
            f"Remove the {label} role",
            f"{label.capitalize()} role removed from {{count}}.",
        )
    if note:
        description += f" ({note})"

    def action(
        modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[User]
    ) -> None:
        _run_for_each(
            request,
            queryset,
            lambda user: service(actor=request.user, user=user, role=role),
            done,
        )

    action.__name__ = f"{'appoint' if grant else 'revoke'}_{role.value}"
    return admin.action(description=description)(action)


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = ["display_name", "email", "role_names", "is_active", "date_joined"]
    list_filter = ["groups", "is_staff", "is_active", "country"]
    search_fields = ["display_name", "email"]
    ordering = ["-date_joined"]
    fields = [
        "display_name",
        "email",
        "time_zone",
        "country",
        "is_active",
        "role_names",
        "is_staff",
        "is_superuser",
        "date_joined",
        "last_login",
    ]
    # Roles change only through the actions below, which check the rules and audit them.
    readonly_fields = ["role_names", "is_staff", "is_superuser", "date_joined", "last_login"]
    actions = [
        _role_action(Role.PEER_SUPERVISOR, grant=True, note="verified therapists only"),
        _role_action(Role.PEER_SUPERVISOR, grant=False),
        _role_action(Role.THERAPIST, grant=False),
        _role_action(Role.STAFF, grant=True, note="superusers only"),
        _role_action(Role.STAFF, grant=False, note="superusers only"),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def role_names(self, user: User) -> str:
        names = [group.name.replace("_", " ") for group in user.groups.all()]
        return ", ".join(sorted(names)) or "client"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # People sign up themselves, so their email is verified.

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # Rows are never deleted: erasure anonymises them.


class TherapistDecisionForm(forms.ModelForm):
    decision = forms.ChoiceField(
        choices=[("", "Not decided yet"), ("verify", "Verify"), ("reject", "Reject")],
        required=False,
    )
    reason = CleanTextField(
        limit=APPLICATION_REASON_MAX,
        noun="Reasons",
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="Required to reject. The applicant sees it.",
    )

    class Meta:
        model = TherapistApplication
        fields: list[str] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("decision") == "reject" and not (data.get("reason") or "").strip():
            self.add_error("reason", "Please give the applicant a reason.")
        return data


@admin.register(TherapistApplication)
class TherapistApplicationAdmin(admin.ModelAdmin):
    form = TherapistDecisionForm
    list_display = ["user", "jurisdiction", "issuing_body", "status", "submitted_at"]
    list_filter = ["status", "jurisdiction"]
    search_fields = ["user__display_name", "user__email", "licence_number", "issuing_body"]
    list_select_related = ["user"]
    readonly_fields = [
        "user",
        "licence_number",
        "issuing_body",
        "jurisdiction",
        "status",
        "submitted_at",
        "decided_by",
        "decided_at",
        "decision_reason",
    ]
    actions = ["verify_selected"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(self.readonly_fields)
        if obj is not None and obj.status == TherapistApplication.Status.PENDING:
            fields += ["decision", "reason"]
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        decision = form.cleaned_data.get("decision")
        reason = form.cleaned_data.get("reason", "")
        try:
            if decision == "verify":
                therapist_application_verify(actor=request.user, application=obj, reason=reason)
            elif decision == "reject":
                therapist_application_reject(actor=request.user, application=obj, reason=reason)
        except ServiceError as error:
            messages.error(request, error.message)

    @admin.action(description="Verify selected applications")
    def verify_selected(
        self, request: HttpRequest, queryset: QuerySet[TherapistApplication]
    ) -> None:
        _run_for_each(
            request,
            queryset,
            lambda application: therapist_application_verify(
                actor=request.user, application=application
            ),
            "{count} verified.",
        )


@admin.register(GuidelinesVersion)
class GuidelinesVersionAdmin(admin.ModelAdmin):
    list_display = ["version", "summary_of_changes", "published_at"]
    actions = ["publish"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and obj.published_at is not None:
            return ["version", "body", "summary_of_changes", "published_at"]
        return ["published_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None or obj.published_at is None

    @admin.action(description="Publish (everyone will be asked to accept it)")
    def publish(self, request: HttpRequest, queryset: QuerySet[GuidelinesVersion]) -> None:
        _run_for_each(
            request,
            queryset.order_by("version"),
            lambda version: guidelines_publish(actor=request.user, version=version),
            "{count} published.",
        )


# allauth searches logins by username, which Hearth's people do not have: every search of the
# list was a 500. Search by what they do have, as the list of people does.
admin.site.unregister(UserSession)


@admin.register(UserSession)
class UserSessionAdmin(AllauthUserSessionAdmin):
    search_fields = ["user__pk", "user__display_name", "user__email", "ip"]

    # Deleting a login from the list ends it (as "sign out other devices" does), not only its
    # line: the login itself, and its copy in the cache, go through the session store.
    def delete_model(self, request: HttpRequest, obj: UserSession) -> None:
        obj.end()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[UserSession]) -> None:
        for login in queryset:
            login.end()
