from __future__ import annotations

from typing import Any

from django import forms

from accounts.text import CleanTextField
from moderation.decisions import ACTIONS
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
    action = forms.ChoiceField(choices=list(ACTIONS.items()), widget=forms.RadioSelect)
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

    def __init__(self, *args: Any, actions: list[str], **kwargs: Any) -> None:
        """Offer only ``actions``, the ones that apply to this report (``report_actions``).

        Any known action still validates here: the service refuses one that does not apply,
        with words that say why (only staff suspend, say)."""
        super().__init__(*args, **kwargs)
        widget = self.fields["action"].widget
        assert isinstance(widget, forms.RadioSelect)
        widget.choices = [(action, ACTIONS[action]) for action in actions]
        if "suspend" not in actions:
            self.fields["days"].label = "For how many days (mute)"
            self.fields["days"].help_text = ""
        if "mute" not in actions and "suspend" not in actions:
            del self.fields["days"]
