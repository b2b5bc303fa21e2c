"""Forms for groups: they parse and check what people type; the services decide."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime, time
from typing import Any

from django import forms
from django.http import QueryDict

from accounts.places import time_zone_names
from accounts.pseudonyms import validate_display_name
from accounts.text import CleanTextField
from groups.finder import FinderAnswers
from groups.models import (
    AGREEMENT_MAX,
    CHECKOUT_WORDS_MAX,
    DESCRIPTION_MAX,
    LANGUAGES,
    NOTE_MAX,
    REASON_MAX,
    TITLE_MAX,
    CheckOut,
    TherapyGroup,
    Topic,
)
from groups.scheduling import MAX_SESSIONS_PER_SERIES, Recurrence, last_plannable_date, today_in
from groups.selectors import TIMES_OF_DAY, DirectoryFilters

WEEKDAYS = [
    (1, "Monday"),
    (2, "Tuesday"),
    (3, "Wednesday"),
    (4, "Thursday"),
    (5, "Friday"),
    (6, "Saturday"),
    (7, "Sunday"),
]
DURATIONS = [
    (m, f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min") for m in range(15, 241, 15)
]


class DirectoryForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=100)
    topic = forms.ChoiceField(label="Topic", required=False)
    kind = forms.ChoiceField(
        label="Kind of group",
        required=False,
        choices=[("", "Any kind"), *TherapyGroup.Kind.choices],
    )
    weekday = forms.TypedChoiceField(
        label="Day",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Any day"), *WEEKDAYS],
    )
    time_of_day = forms.ChoiceField(
        label="Time of day (your time)",
        required=False,
        choices=[("", "Any time")] + [(key, key.capitalize()) for key in TIMES_OF_DAY],
    )
    language = forms.ChoiceField(
        label="Language", required=False, choices=[("", "Any language"), *LANGUAGES]
    )
    seats = forms.BooleanField(label="Only groups with a free place", required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "Any topic")] + [
            (topic.slug, topic.name) for topic in Topic.objects.filter(is_active=True)
        ]

    def filters(self) -> DirectoryFilters:
        """The filters to apply; invalid parts are simply left out."""
        if self.is_bound:
            self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return DirectoryFilters(
            query=(data.get("q") or "").strip(),
            topic=data.get("topic") or "",
            kind=data.get("kind") or "",
            language=data.get("language") or "",
            weekday=data.get("weekday"),
            time_of_day=data.get("time_of_day") or "",
            seats_only=bool(data.get("seats")),
        )


class JoinForm(forms.Form):
    pseudonym = CleanTextField(
        label="Your name in this group",
        limit=None,
        required=False,
        help_text="Leave it as it is to use your display name, or choose a different one "
        "for this group only.",
    )

    def clean_pseudonym(self) -> str:
        """The name as typed, checked by the same rules as display names (empty: use mine).

        Whether it sounds official depends on who chooses it: the service decides that.
        """
        name: str = self.cleaned_data["pseudonym"]
        if name:
            validate_display_name(name)
        return name


def _reason_field(help_text: str) -> forms.CharField:
    return CleanTextField(limit=REASON_MAX, noun="Reasons", help_text=help_text)


def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in time_zone_names()]


class GroupForm(forms.Form):
    title = CleanTextField(limit=TITLE_MAX, noun="Titles")
    topic = forms.ModelChoiceField(queryset=Topic.objects.filter(is_active=True), empty_label=None)
    kind = forms.ChoiceField(choices=TherapyGroup.Kind.choices, label="Kind of group")
    description = CleanTextField(
        limit=DESCRIPTION_MAX,
        noun="Descriptions",
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What the group is for and who it is for, in plain words "
        f"(up to {DESCRIPTION_MAX:,} characters).",
    )
    agreement = CleanTextField(
        limit=AGREEMENT_MAX,
        noun="Group agreements",
        multiline=True,
        required=False,
        label="Group agreement (optional)",
        help_text="Rules for this group on top of the community guidelines "
        f"(up to {AGREEMENT_MAX:,} characters).",
    )
    capacity = forms.IntegerField(
        min_value=2, max_value=50, initial=10, help_text="How many members, from 2 to 50."
    )
    language = forms.ChoiceField(choices=LANGUAGES, initial="en")
    time_zone = forms.ChoiceField(
        label="Time zone the group meets in",
        choices=_time_zone_choices,
        help_text="Session times are planned in this zone; members see them in their own.",
    )
    transcript_retention_days = forms.IntegerField(
        label="Keep each session's messages for (days)",
        min_value=1,
        max_value=365,
        initial=30,
        help_text="After this, what was written is deleted, unless a report about it is open.",
    )
    is_listed = forms.BooleanField(label="Show in the directory", required=False, initial=True)
    is_closed = forms.BooleanField(
        label="By invitation only", required=False, help_text="Peer supervision is always closed."
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["kind"]


DATE_ERRORS = {"invalid": "Please enter a real date, as year, month and day."}


class SessionTimeForm(forms.Form):
    """A wall-clock date and time in the group's ``time_zone``, from today to two years ahead.

    (``date`` in these classes is the field, so annotations say ``dt.date``.)
    """

    date = forms.DateField(
        label="Date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="In the group's time zone, from today up to two years ahead.",
        error_messages=DATE_ERRORS,
    )
    start = forms.TimeField(
        label="Start time",
        widget=forms.TimeInput(attrs={"type": "time"}),
        error_messages={"invalid": "Please enter a time of day, such as 18:30."},
    )
    duration = forms.TypedChoiceField(label="Length", coerce=int, choices=DURATIONS, initial=60)

    def __init__(self, *args: Any, time_zone: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today_in(time_zone)
        self.last_date = last_plannable_date(time_zone)

    def _check_plannable(self, value: dt.date) -> None:
        if value < self.today:
            raise forms.ValidationError(
                "This date has already passed. Please choose today or a later date."
            )
        if value > self.last_date:
            raise forms.ValidationError(
                "Sessions can be planned up to two years ahead, that is until "
                f"{self.last_date:%A %-d %B %Y}. Please choose an earlier date."
            )

    def clean_date(self) -> dt.date:
        value: dt.date = self.cleaned_data["date"]
        self._check_plannable(value)
        return value

    def starts_local(self) -> datetime:
        return datetime.combine(self.cleaned_data["date"], self.cleaned_data["start"])


class ScheduleForm(SessionTimeForm):
    REPEAT_CHOICES = [
        ("once", "Just once"),
        ("1", "Every week"),
        ("2", "Every other week"),
    ]

    room_opens_minutes = forms.IntegerField(
        label="Room opens (minutes before the start)", min_value=0, max_value=60, initial=10
    )
    repeat = forms.ChoiceField(choices=REPEAT_CHOICES, initial="once", widget=forms.RadioSelect)
    count = forms.IntegerField(
        label="Number of sessions",
        required=False,
        min_value=1,
        max_value=MAX_SESSIONS_PER_SERIES,
        help_text="For a repeating series: either this …",
    )
    until = forms.DateField(
        label="Last date",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="… or the date of the last session.",
        error_messages=DATE_ERRORS,
    )

    def clean_until(self) -> dt.date | None:
        value: dt.date | None = self.cleaned_data["until"]
        if value is not None:
            self._check_plannable(value)
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        # One note per problem: when a field already says what to change, checking it
        # against the others would only add a confusing second note.
        if data.get("repeat", "once") == "once" or any(
            self.has_error(name) for name in ("repeat", "count", "until")
        ):
            return data
        has_count, has_until = data.get("count") is not None, data.get("until") is not None
        if has_count == has_until:
            raise forms.ValidationError(
                "For a repeating series, give either the number of sessions or the last "
                "date (not both)."
            )
        if has_until and "date" in data and data["until"] < data["date"]:
            self.add_error("until", "The last date is before the first session.")
        return data

    def recurrence(self) -> Recurrence | None:
        repeat = self.cleaned_data["repeat"]
        if repeat == "once":
            return None
        return Recurrence(
            interval_weeks=int(repeat),
            count=self.cleaned_data.get("count"),
            until=self.cleaned_data.get("until"),
        )


class RescheduleForm(SessionTimeForm):
    reason = _reason_field("Members are told this, so keep it short and kind.")
    rest_of_series = forms.BooleanField(
        label="Move the later sessions of this series by the same amount", required=False
    )


class CancelForm(forms.Form):
    reason = _reason_field("Members are told this, so keep it short and kind.")
    rest_of_series = forms.BooleanField(
        label="Also cancel the later sessions of this series", required=False
    )


class RemoveMemberForm(forms.Form):
    reason = _reason_field("Kept with the group's records. The person is told they were removed.")


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address of the person to invite")


def initial_for_session(
    local_start: datetime, duration_minutes: int
) -> dict[str, date | time | int]:
    return {"date": local_start.date(), "start": local_start.time(), "duration": duration_minutes}


class CoFacilitatorForm(forms.Form):
    email = forms.EmailField(label="Their email address on Hearth")


class FinderForm(forms.Form):
    """The few optional questions of "Find a group that fits"."""

    topic = forms.ChoiceField(label="What would you like support with?", required=False)
    weekdays = forms.TypedMultipleChoiceField(
        label="Which days are you usually free?",
        required=False,
        coerce=int,
        choices=WEEKDAYS,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave them all empty if any day suits you.",
    )
    times_of_day = forms.MultipleChoiceField(
        label="At what time of day? (your time)",
        required=False,
        choices=[(key, key.capitalize()) for key in TIMES_OF_DAY],
        widget=forms.CheckboxSelectMultiple,
    )
    language = forms.ChoiceField(
        label="In which language?", required=False, choices=[("", "Any language"), *LANGUAGES]
    )
    kind = forms.ChoiceField(
        label="A support group or a therapy group?",
        required=False,
        choices=[
            ("", "Either, or I am not sure"),
            (TherapyGroup.Kind.SUPPORT, "A support group (people who share an experience)"),
            (TherapyGroup.Kind.THERAPY, "A therapy group (led as therapy by a therapist)"),
        ],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["topic"].choices = [("", "I would rather not say")] + [
            (topic.slug, topic.name) for topic in Topic.objects.filter(is_active=True)
        ]

    def answers(self) -> FinderAnswers | None:
        """The answers, or None before the person has answered (or if nothing was valid)."""
        if not self.is_bound or not self.is_valid():
            return None
        data = self.cleaned_data
        return FinderAnswers(
            topic=data["topic"],
            weekdays=frozenset(data["weekdays"]),
            times_of_day=frozenset(data["times_of_day"]),
            language=data["language"],
            kind=data["kind"],
        )

    @classmethod
    def from_kept(cls, answers: dict[str, Any]) -> FinderForm:
        """The form bound to answers kept earlier (unknown parts are dropped as invalid)."""
        data = QueryDict(mutable=True)
        for key in ("topic", "language", "kind"):
            data[key] = str(answers.get(key) or "")
        data.setlist("weekdays", [str(day) for day in answers.get("weekdays", [])])
        data.setlist("times_of_day", [str(t) for t in answers.get("times_of_day", [])])
        return cls(data)


class NoteForm(forms.Form):
    body = CleanTextField(
        label="Note",
        limit=NOTE_MAX,
        noun="Notes",
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 5, "dir": "auto"}),
        help_text="Only this group's facilitators can read it; members never see it. It is "
        f"deleted with the session's transcript. Up to {NOTE_MAX:,} characters.",
    )


class CheckOutForm(forms.Form):
    feeling = forms.TypedChoiceField(
        label="How was today for you?",
        coerce=int,
        choices=[(value, f"{value}: {label}") for value, label in CheckOut.Feeling.choices],
        widget=forms.RadioSelect,
        error_messages={"required": "Please choose how today was, from 1 to 5."},
    )
    words = CleanTextField(
        label="A few words",
        limit=CHECKOUT_WORDS_MAX,
        noun="A few words",
        multiline=True,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "dir": "auto"}),
        help_text="Your facilitators read this; nobody else in the group does. "
        f"Up to {CHECKOUT_WORDS_MAX:,} characters.",
    )
