"""Per-request account rules: login lifetime, required two-step login, the viewer's time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from allauth.usersessions.models import UserSession
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from accounts.sessions import activity_due, login_expired

Middleware = Callable[[HttpRequest], HttpResponse]


class AbsoluteSessionTimeoutMiddleware:
    """Log out a suspended account at once, and any login older than
    ``SESSION_ABSOLUTE_SECONDS``, however active it was."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.is_suspended:
            logout(request)
            messages.warning(request, "This account is suspended, so you have been logged out.")
            return redirect("account_login")
        if user.is_authenticated and login_expired(request, now=timezone.now()):
            logout(request)
            messages.info(request, "For your safety you were logged out. Please log in again.")
            return redirect("account_login")
        return self.get_response(request)


class LoginActivityMiddleware:
    """Renew a login's idle expiry and its "last seen" in the device list, at most once a
    minute (allauth's own middleware writes on every request)."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            request.user.is_authenticated
            and request.session.session_key
            and activity_due(request, now=timezone.now())
        ):
            UserSession.objects.create_from_request(request)
        return self.get_response(request)


# Where a therapist, peer supervisor or staff member may go before two-step login is set up.
_MFA_SETUP_URL_NAMES = frozenset(
    {"account_logout", "account_reauthenticate", "help", "account_email_verification_sent"}
)


_SECOND_FACTORS = [Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]


class MfaRequiredMiddleware:
    """Send people who hold a privileged role to set up two-step login before anything else."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or not user.requires_mfa:
            return None
        match = request.resolver_match
        url_name = match.url_name if match else None
        if url_name in _MFA_SETUP_URL_NAMES or (url_name or "").startswith("mfa_"):
            return None
        if is_mfa_enabled(user, types=_SECOND_FACTORS):
            return None
        messages.warning(
            request,
            "Your role lets you see other people's information, so please set up "
            "two-step login before you continue.",
        )
        return redirect("mfa_activate_totp")


class UserTimezoneMiddleware:
    """Show every time in the viewer's own time zone."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated and user.time_zone:
            try:
                timezone.activate(zoneinfo.ZoneInfo(user.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
