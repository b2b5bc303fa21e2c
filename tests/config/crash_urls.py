"""Hearth's addresses plus one that always fails, for the error page tests."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a deliberate failure: secret-looking detail")


urlpatterns = [
    path("crash/", crash),
    path("", include("config.urls")),
]
