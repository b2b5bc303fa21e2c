"""Hearth's addresses plus a page marked shareable that holds a form posting back."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.urls import include, path

from config.page_cache import anonymous_cacheable


@anonymous_cacheable
def form(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f'<form method="post"><input name="csrf" value="{get_token(request)}">')


urlpatterns = [
    path("form/", form),
    path("", include("config.urls")),
]
