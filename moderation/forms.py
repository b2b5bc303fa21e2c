from __future__ import annotations

from django import forms

from accounts.text import CleanTextField
from moderation.models import DECISION_REASON_MAX, NOTE_MAX, Report


class ReportForm(forms.Form):
    reason = forms.ChoiceField(
        label="What is wrong?", choices=Report.Reason.choices, widget=forms.RadioSelect
    )
    note = CleanTextField(
        label="Anything you want to add (optional)",
        required=False,
        limit=NOTE_MAX,
        noun="Notes",
        multiline=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Only the facilitators and staff see this. The person you report never "
        f"learns who reported them. Up to {NOTE_MAX:,} characters.",
    )


class DecisionForm(forms.Form):
    ACTIONS = [
        ("dismiss", "Dismiss: no action needed"),
        ("hide", "Hide the message for everyone"),
        ("warn", "Warn the member"),
        ("mute", "Mute the member in this group for a time"),
        ("remove", "Remove the member from the group"),
        ("escalate", "Escalate to staff"),
        ("suspend", "Suspend the account (staff only)"),
    ]
    action = forms.ChoiceField(choices=ACTIONS, widget=forms.RadioSelect)
    reason = CleanTextField(
        limit=DECISION_REASON_MAX,
        noun="Reasons",
        help_text="A short reason, kept with the report and the audit log.",
    )
    days = forms.IntegerField(
        label="For how many days (mute or suspension)",
        required=False,
        min_value=1,
        max_value=365,
        help_text="Leave empty to suspend for good.",
    )
