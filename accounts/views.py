"""Account pages: thin adapters that parse a form, call one service and render."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from accounts.exceptions import ServiceError
from accounts.forms import GuidelinesAcceptForm, ProfileForm, TherapistApplicationForm
from accounts.roles import Role
from accounts.selectors import (
    guidelines_current,
    guidelines_standing,
    therapist_applications_for,
)
from accounts.services import guidelines_accept, profile_update, therapist_application_submit


def _safe_next(request: HttpRequest) -> str | None:
    """The ``next`` parameter, if it points back into this site."""
    target = request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """Show and change the display name, time zone and country."""
    form = ProfileForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            profile_update(actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Your profile is saved.")
            return redirect("accounts:profile")
    return render(request, "accounts/profile.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def therapist_apply(request: HttpRequest) -> HttpResponse:
    """Apply to be verified as a therapist, and see how earlier applications went."""
    applications = list(therapist_applications_for(user=request.user))
    is_therapist = request.user.has_role(Role.THERAPIST)
    has_pending = any(a.status == a.Status.PENDING for a in applications)
    form = TherapistApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            therapist_application_submit(actor=request.user, **form.cleaned_data)
        except ServiceError as error:
            # Shown as a message: when an application is pending the form is not on the page.
            messages.error(request, error.message)
        else:
            messages.success(
                request,
                "Thank you. Staff will check your credentials and we will email you "
                "when they have decided.",
            )
            return redirect("accounts:therapist_apply")
    return render(
        request,
        "accounts/therapist_apply.html",
        {
            "form": form,
            "applications": applications,
            "is_therapist": is_therapist,
            "has_pending": has_pending,
        },
    )


@require_http_methods(["GET", "POST"])
def guidelines(request: HttpRequest) -> HttpResponse:
    """Read the current guidelines; a logged-in person can accept them here."""
    current = guidelines_current()
    standing = guidelines_standing(user=request.user)
    form = GuidelinesAcceptForm(
        request.POST or None, initial={"version": current.version if current else None}
    )
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if current is not None and form.is_valid():
            if form.cleaned_data["version"] != current.version:
                form.add_error(
                    None,
                    "The guidelines were updated while you were reading. Please read the "
                    "new version below and accept it.",
                )
            else:
                try:
                    guidelines_accept(actor=request.user, version=current)
                except ServiceError as error:
                    form.add_error(None, error.message)
                else:
                    messages.success(request, "Thank you for accepting the guidelines.")
                    return redirect(_safe_next(request) or "guidelines")
    return render(
        request,
        "accounts/guidelines.html",
        {
            "guidelines": current,
            "accepted": standing == "accepted",
            # What changed matters only to someone who accepted an earlier version.
            "show_changes": standing == "update",
            "form": form,
        },
    )
