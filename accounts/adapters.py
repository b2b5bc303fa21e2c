from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.models import User


class AccountAdapter(DefaultAccountAdapter):
    """allauth's account flows, storing Hearth's extra sign-up fields on the new person, and
    refusing to log in a suspended account."""

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
