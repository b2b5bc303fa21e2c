"""Response hardening that applies to every page."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

# What Django's never_cache and patch_cache_control(no_store=True, private=True) together give,
# written at once: those two took five passes over the header per page (about 0.1 ms).
NEVER_STORE = "max-age=0, no-cache, no-store, must-revalidate, private"


class ContentSecurityPolicyMiddleware:
    """Send the strict Content-Security-Policy from settings on every response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response


class NoStoreForAuthenticatedMiddleware:
    """Forbid any cache from keeping a page served to a logged-in person.

    Pages may show health information (groups someone attends, what they wrote); a shared
    computer's back button or a proxy must never replay them. Whatever the view said about
    caching is replaced: nothing served to a logged-in person may be kept.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response.headers["Cache-Control"] = NEVER_STORE
            response.headers["Expires"] = http_date()
        return response
