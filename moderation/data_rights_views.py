"""Pages for a person's own data: download it, or close the account for good."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from moderation.data_rights import account_erase, data_export_record, personal_data


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args: object, user: object, **kwargs: object) -> None:
        self.user = user
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):  # type: ignore[attr-defined]
            raise forms.ValidationError("That password is not right. Please try again.")
        return password


class EraseForm(PasswordForm):
    confirm = forms.BooleanField(
        label="I understand that this cannot be undone.",
        error_messages={"required": "Please tick the box to confirm."},
    )


@login_required
@require_http_methods(["GET", "POST"])
def my_data(request: HttpRequest) -> HttpResponse:
    """Download everything Hearth holds about me, as JSON, after re-entering my password."""
    form = PasswordForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data_export_record(actor=request.user)
        response = HttpResponse(
            json.dumps(personal_data(user=request.user), indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="my-hearth-data.json"'
        return response
    return render(request, "moderation/my_data.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def close_account(request: HttpRequest) -> HttpResponse:
    """Close my account for good: personal data is erased, login stops at once."""
    form = EraseForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        account_erase(actor=request.user)
        logout(request)
        return render(request, "moderation/account_closed.html")
    return render(request, "moderation/close_account.html", {"form": form})
