"""Two views for the handler's thread tests: one that leaves per-request state set, one that
reports what its thread and that state are."""

from __future__ import annotations

import threading

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils import timezone, translation


def leave_state_behind(request: HttpRequest) -> HttpResponse:
    timezone.activate("Asia/Tokyo")
    translation.activate("fr")
    return HttpResponse("set")


def report(request: HttpRequest) -> HttpResponse:
    return JsonResponse(
        {
            "thread": threading.get_ident(),
            "zone": timezone.get_current_timezone_name(),
            "language": translation.get_language(),
        }
    )


urlpatterns = [path("set/", leave_state_behind), path("report/", report)]
