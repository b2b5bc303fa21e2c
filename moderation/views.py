from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.places import COUNTRIES
from moderation.models import CrisisLine
from moderation.selectors import crisis_lines_by_country

_COUNTRY_NAMES = dict(COUNTRIES) | {CrisisLine.INTERNATIONAL: "Anywhere in the world"}


@require_safe
def help_now(request: HttpRequest) -> HttpResponse:
    """Crisis lines, for anyone, logged in or not: the person's own country first."""
    country = request.user.country if request.user.is_authenticated else ""
    country = request.GET.get("country", country).upper()[:2]
    groups = [
        {"code": code, "name": _COUNTRY_NAMES.get(code, code), "lines": lines}
        for code, lines in crisis_lines_by_country(country=country)
    ]
    return render(
        request,
        "moderation/help_now.html",
        {"country_groups": groups, "country": country, "countries": COUNTRIES},
    )
