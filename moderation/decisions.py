"""Which of the review page's actions apply to a report, for a reviewer.

One rule for the page (it offers only these) and the service (``report_decide`` refuses the
rest, so a forged form gets a plain answer, not a half-done decision): a report about the
group itself has no message to hide and no member to warn, mute, remove or suspend; a report
about a member has no message to hide; a facilitator of the group holds no place to mute or
remove them from, and is not suspended over one group's report; only an open report can be
escalated, and only staff suspend.
"""

from __future__ import annotations

from accounts.models import User
from moderation.models import Report
from moderation.selectors import facilitates, is_staff

ACTIONS: dict[str, str] = {
    "dismiss": "Dismiss: no action needed",
    "hide": "Hide the message for everyone",
    "warn": "Warn the member",
    "mute": "Mute the member in this group for a time",
    "remove": "Remove the member from the group",
    "escalate": "Escalate to staff",
    "suspend": "Suspend the account (staff only)",
}

MESSAGE_ACTIONS = frozenset({"hide"})
MEMBER_ACTIONS = frozenset({"warn", "mute", "remove", "suspend"})
PLACE_ACTIONS = frozenset({"mute", "remove", "suspend"})


def report_actions(*, reviewer: User, report: Report) -> list[str]:
    """The actions that apply to ``report`` for ``reviewer``, in the page's order (the caller
    has checked that ``reviewer`` may review it)."""
    ruled_out: set[str] = set()
    if report.message_id is None:
        ruled_out |= MESSAGE_ACTIONS
    if report.subject_id is None:
        ruled_out |= MEMBER_ACTIONS
    elif facilitates(user_id=report.subject_id, group_id=report.group_id):
        ruled_out |= PLACE_ACTIONS
    if report.status != Report.Status.OPEN:
        ruled_out.add("escalate")
    if not is_staff(reviewer):
        ruled_out.add("suspend")
    return [action for action in ACTIONS if action not in ruled_out]
