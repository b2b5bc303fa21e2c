"""Waiting-list places in words."""

from __future__ import annotations

from django import template
from django.contrib.humanize.templatetags.humanize import ordinal

register = template.Library()


@register.filter
def place_in_line(place: int | None) -> str:
    """``next`` for the first place, then ``2nd``, ``3rd``… (from ``waitlist_place``)."""
    if not place:
        return ""
    return "next" if place == 1 else str(ordinal(place))
