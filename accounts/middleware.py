"""Per-request account rules: the login policy, login activity, the viewer's time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from typing import Any

from allauth.usersessions.models import UserSession
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import AuthenticationMiddleware, get_user
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from accounts.places import time_zone_names
from accounts.policy import MFA_REQUIRED, login_check
from accounts.sessions import activity_due, login_time_ensure

Middleware = Callable[[HttpRequest], HttpResponse]


class EagerAuthenticationMiddleware(AuthenticationMiddleware):
    """Django's, with ``request.user`` the person (or AnonymousUser) rather than a lazy proxy.

    Every page asks who is there straight away (login activity, the login policy, the time
    zone), so the proxy saved nothing and added a detour to each of the forty-odd times a
    page reads ``request.user`` (an attribute miss and a forwarded look-up, about 0.1 ms a
    page in all). Who is there is still worked out once a request, in the same way."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = get_user(request)


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


class LoginPolicyMiddleware:
    """Pages ask the one login policy (``accounts.policy``), as room sockets do: a suspended
    account or a login past its absolute lifetime is logged out; a person who must use
    two-step login and has not set it up is sent to do so before anything else."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated:
            return None
        now = timezone.now()
        login_time_ensure(request, now=now)
        refusal = login_check(user=user, login=request.session, now=now)
        if refusal is None:
            return None
        if refusal.code == MFA_REQUIRED.code:
            match = request.resolver_match
            url_name = match.url_name if match else None
            if url_name in _MFA_SETUP_URL_NAMES or (url_name or "").startswith("mfa_"):
                return None
            messages.warning(request, refusal.message)
            return redirect("mfa_activate_totp")
        logout(request)
        messages.warning(request, refusal.message)
        return redirect("account_login")


#: The cookie static/js/hearth.js sets to the browser's IANA zone, for people not logged in.
TIME_ZONE_COOKIE = "tz"


def viewer_time_zone(request: HttpRequest) -> str:
    """The zone to show times in: a logged-in person's profile zone; for anyone else the
    browser's zone from the ``tz`` cookie if it is one we know (``accounts.places``), else UTC."""
    user = request.user
    if user.is_authenticated:
        return user.time_zone if user.time_zone in time_zone_names() else "UTC"
    zone = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    return zone if zone in time_zone_names() else "UTC"


class UserTimezoneMiddleware:
    """Show every time in the viewer's own time zone."""

    def __init__(self, get_response: Middleware) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # For people not logged in the zone comes from a cookie, so the same address shows
        # different times: their responses vary on Cookie. Anything that caches anonymous
        # pages must make the zone part of its key: config.page_cache does, through
        # PAGE_CACHE_VARY_COOKIES; a CDN would have to as well.
        timezone.activate(zoneinfo.ZoneInfo(viewer_time_zone(request)))
        response = self.get_response(request)
        if not request.user.is_authenticated:
            patch_vary_headers(response, ["Cookie"])
        return response
