from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from moderation.audit import audit_context


def client_ip(request: HttpRequest) -> str | None:
    """The address the request came from, as the server (or its trusted proxy) saw it."""
    return request.META.get("REMOTE_ADDR") or None


class AuditContextMiddleware:
    """Attribute every audit event recorded during a request to the client's address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with audit_context(ip_address=client_ip(request)):
            return self.get_response(request)
