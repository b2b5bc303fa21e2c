from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.contrib.sites.models import Site
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User


def site_as_configured() -> Site:
    """Hearth as its emails name it: SITE_NAME at SITE_URL's host and port.

    Not the sites table, whose one row says whatever it was given when the database was made
    (``localhost:8000``), whichever port the site runs on now.
    """
    return Site(domain=urlsplit(settings.SITE_URL).netloc, name=settings.SITE_NAME)


def _on_site(url: str) -> str:
    """``url``'s path on SITE_URL, as Hearth's own emails build their links."""
    parts = urlsplit(url)
    return settings.SITE_URL + urlunsplit(("", "", parts.path, parts.query, parts.fragment))


class AccountAdapter(DefaultAccountAdapter):
    """allauth's account flows, storing Hearth's extra sign-up fields on the new person,
    refusing to log in a suspended account, landing each person on their own page, and
    sending emails that name and link the site as SITE_URL says."""

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Every allauth email passes here: its links (``activate_url``, ``password_reset_url``,
        ``signup_url``, ...) move onto SITE_URL, whichever host the form was posted to, and
        ``current_site`` is the site as configured."""
        context = {
            key: _on_site(value)
            if key.endswith("_url") and isinstance(value, str) and urlsplit(value).netloc
            else value
            for key, value in context.items()
        }
        super().send_mail(template_prefix, email, {**context, "current_site": site_as_configured()})

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        """Where a login lands when no safe ``next`` was given (allauth honours that first):
        the page the apps built on accounts choose for this person (see ``accounts.hooks``)."""
        from accounts.hooks import landing_url

        user = request.user
        landing = landing_url(user=user) if isinstance(user, User) else None
        return landing or super().get_login_redirect_url(request)

    def pre_login(self, request: HttpRequest, user: User, **kwargs: Any) -> HttpResponse | None:
        if user.is_suspended:
            from allauth.account.internal.stagekit import clear_login

            clear_login(request)
            return render(
                request, "account/suspended.html", {"until": user.suspended_until}, status=403
            )
        return super().pre_login(request, user, **kwargs)

    def save_user(
        self, request: HttpRequest, user: User, form: BaseForm, commit: bool = True
    ) -> Any:
        user.display_name = form.cleaned_data["display_name"]
        user.time_zone = form.cleaned_data["time_zone"]
        return super().save_user(request, user, form, commit=commit)
