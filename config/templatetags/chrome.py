"""The site's header and footer, printed on every page, each made once per distinct content.

base.html's header was a quarter of a logged-in page's template time (fifteen ``{% url %}``,
twenty-odd ``{% if %}``): it prints the same HTML for everyone with the same role flags on the
same page. So it is a kept row (config/fragments.py) of exactly those values, rendered with
nothing else in its context, and the page's own CSRF field goes into the logout form's slot.
The "current page" value is the request's path only when it is one of the header's own
addresses, so the number of kept headers stays small whatever the addresses asked for.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django import template
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import SafeString

from config.fragments import Row, csrf_field, render_row, with_csrf

register = template.Library()

# The pages the header links to (includes/site_header.html), for aria-current.
NAV_PAGES = (
    "home",
    "help",
    "groups:directory",
    "how_it_works",
    "guidelines",
    "groups:my_schedule",
    "groups:dashboard",
    "moderation:queue",
    "accounts:profile",
    "account_email",
    "account_login",
    "account_signup",
)


@functools.lru_cache(maxsize=8)
def _nav_paths(urlconf: str | None, prefix: str) -> frozenset[str]:
    return frozenset(reverse(name, urlconf=urlconf) for name in NAV_PAGES)


@receiver(setting_changed)
def _forget_paths(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _nav_paths.cache_clear()


@dataclass(frozen=True)
class Header(Row):
    authenticated: bool
    leads_groups: bool
    staff: bool
    current: str  # the path of the page shown, if the header links to it; else ""


@dataclass(frozen=True)
class Footer(Row):
    pass


@register.simple_tag(takes_context=True)
def site_header(context: template.Context) -> SafeString:
    request = context.get("request")
    user = context.get("user")
    authenticated = bool(user is not None and user.is_authenticated)
    path = request.path if request is not None else ""
    header = Header(
        authenticated=authenticated,
        leads_groups=authenticated and bool(context.get("can_lead_groups")),
        staff=authenticated and bool(user.is_staff),
        current=path if path in _nav_paths(get_urlconf(), get_script_prefix()) else "",
    )
    html = render_row("includes/site_header.html", header)
    if not authenticated:  # the logout form, the only form, is for logged-in people
        return html
    # As {% csrf_token %}: the page's token, or nothing where there is none (no request).
    token = context.get("csrf_token")
    return with_csrf(html, csrf_field(str(token)) if token else "")


@register.simple_tag
def site_footer() -> SafeString:
    return render_row("includes/site_footer.html", Footer())
