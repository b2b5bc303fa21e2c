"""Forms that parse and check what people type; the services decide."""

from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest, HttpResponse

from accounts.models import (
    ISSUING_BODY_MAX,
    JURISDICTION_MAX,
    LICENCE_NUMBER_MAX,
    User,
)
from accounts.places import COUNTRIES, time_zone_names, validate_time_zone
from accounts.pseudonyms import validate_chosen_name, validate_display_name
from accounts.selectors import display_name_is_taken, display_name_suggestion
from accounts.text import CleanTextField

_NAME_HELP = (
    "This is the only name other people see. Please don't use your real name, email "
    "or phone number. You can choose a different name in each group later."
)
_TZ_HELP = "Session times are shown in this time zone. We guessed it from your browser."


def _time_zone_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Your time zone",
        choices=[(name, name.replace("_", " ")) for name in time_zone_names()],
        initial="UTC",
        help_text=_TZ_HELP,
        widget=forms.Select(attrs={"data-guess-time-zone": "true"}),
        validators=[validate_time_zone],
        error_messages={
            "invalid_choice": "We do not recognise that time zone. Please pick one from the list."
        },
    )


def _country_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label="Country (optional)",
        choices=[("", "I'd rather not say"), *COUNTRIES],
        required=False,
        help_text="So that “Get help now” shows the crisis lines for where you are first.",
    )


class DisplayNameField(CleanTextField):
    """A display name: cleaned, spaces folded, and checked by the rules for names (their
    length among them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            limit=None,
            label="Display name",
            help_text=_NAME_HELP,
            validators=[validate_display_name],
            **kwargs,
        )


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, plus the display name and time zone every person needs."""

    display_name = DisplayNameField()
    time_zone = _time_zone_field()

    field_order = ["email", "display_name", "password1", "password2", "time_zone"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("display_name", display_name_suggestion())

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"]
        validate_chosen_name(name)  # nobody signs up as staff
        if display_name_is_taken(name=name):
            raise forms.ValidationError(
                "Someone already uses that name. Please choose another, or keep the one "
                "we suggested.",
                code="name_taken",
            )
        return name

    def try_save(self, request: HttpRequest) -> tuple[User | None, HttpResponse | None]:
        password = self.cleaned_data.get("password1")
        if self.account_already_exists and password:
            # allauth answers an address that already has an account with the same "check
            # your email" step as a new sign-up, but creates nothing, so it skipped hashing the
            # password: nearly all of a new sign-up's time, which told who has an account.
            # Hash it all the same, as the new account would, and forget it.
            make_password(password)
        return super().try_save(request)


class ProfileForm(forms.Form):
    display_name = DisplayNameField()
    time_zone = _time_zone_field()
    country = _country_field()

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        kwargs.setdefault(
            "initial",
            {
                "display_name": user.display_name,
                "time_zone": user.time_zone,
                "country": user.country,
            },
        )
        super().__init__(*args, **kwargs)
        time_zone = self.fields["time_zone"]
        time_zone.help_text = "Session times are shown in this time zone."
        # Guess from the browser only at sign-up: here the saved zone is the person's choice.
        time_zone.widget.attrs.pop("data-guess-time-zone", None)

    def clean_display_name(self) -> str:
        name = self.cleaned_data["display_name"]
        validate_chosen_name(name, chooser=self.user)
        if display_name_is_taken(name=name, exclude_user=self.user):
            raise forms.ValidationError(
                "Someone already uses that name. Please choose another.", code="name_taken"
            )
        return name


class TherapistApplicationForm(forms.Form):
    licence_number = CleanTextField(
        label="Licence or registration number",
        limit=LICENCE_NUMBER_MAX,
        noun="Licence numbers",
    )
    issuing_body = CleanTextField(
        label="Issued by",
        limit=ISSUING_BODY_MAX,
        noun="The name of the issuing body",
        help_text="The professional body or board, such as the HCPC or a state licensing board.",
    )
    jurisdiction = CleanTextField(
        label="Where it is valid",
        limit=JURISDICTION_MAX,
        noun="The place where it is valid",
        help_text="Country, state or region.",
    )


class GuidelinesAcceptForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    agree = forms.BooleanField(
        label="I have read these guidelines and I agree to follow them.",
        error_messages={"required": "Please tick the box to show that you agree."},
    )
