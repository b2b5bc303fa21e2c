"""The public pages that belong to no one app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """What a Hearth group is, and how it differs from a chat room."""
    return render(request, "pages/home.html")


@require_safe
def how_it_works(request: HttpRequest) -> HttpResponse:
    """What happens before, during and after a session."""
    return render(request, "pages/how_it_works.html")


@never_cache
@require_safe
def ping(request: HttpRequest) -> HttpResponse:
    """Answer "ok" without touching the database: for load balancers, and the benchmarks'
    baseline."""
    return HttpResponse("ok", content_type="text/plain")
