"""Bad input to every form in groups: a clear, kind note, nothing changed, and never a 500.

Each form has a working baseline (checked first, so a refusal below is caused by the one bad
value and nothing else); each case changes one or two fields of it. Forms on their own page
answer 200 with the note beside what was typed; the small row forms of the manage page send
the facilitator back there with a message, which is their design.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import Notification
from accounts.roles import Role
from groups.models import (
    CalendarFeed,
    Enrollment,
    GroupSession,
    Invitation,
    SessionSeries,
    TherapyGroup,
    TherapyGroupUserObjectPermission,
    Topic,
)
from groups.scheduling import Recurrence
from groups.services import invitation_send, series_schedule
from moderation.models import AuditEvent
from tests.dates import local_today, spring_forward
from tests.factories import (
    UserFactory,
    accept_guidelines,
    add_totp,
    make_group,
    make_member,
    make_session,
)

pytestmark = pytest.mark.django_db

HUGE = str(10**20)
TOO_LONG_REASON = "x" * 301
ZONE = "Europe/London"


@pytest.fixture
def scene(therapist, member):
    """An open group that is full (three members, one waiting), with a one-off session and a
    series; a closed group that has invited ``member``; a colleague who could co-facilitate."""
    group = make_group(therapist, title="Open group", capacity=3, time_zone=ZONE)
    one_off = make_session(group, days_ahead=5)
    series = series_schedule(
        actor=therapist,
        group=group,
        first_start_local=datetime.combine(day(9), time(18)),
        duration_minutes=60,
        recurrence=Recurrence(count=3),
    )
    dove = make_member(group, display_name="Morning Dove")
    make_member(group), make_member(group)
    waiting = make_member(group)
    assert waiting.state == Enrollment.State.WAITLISTED
    closed = make_group(therapist, title="Closed group", is_closed=True, is_listed=False)
    invitation = invitation_send(actor=therapist, group=closed, email=member.email)
    accept_guidelines(member)
    colleague = UserFactory(display_name="Kind Colleague", roles=[Role.THERAPIST])
    add_totp(colleague)
    return SimpleNamespace(
        therapist=therapist,
        member=member,
        group=group,
        closed=closed,
        one_off=one_off,
        series=series,
        dove=dove,
        waiting=waiting,
        invitation=invitation,
        colleague=colleague,
    )


def day(days_from_today: int) -> date:
    return local_today(ZONE) + timedelta(days=days_from_today)


def in_days(days_from_today: int) -> str:
    """A date that far from today, worked out when the request is made (so "+20 days"
    in a test's name, and the right date whenever it runs)."""
    return f"{days_from_today:+d} days"


def _resolved(value: str, people: dict[str, str]) -> str:
    """``value`` with relative dates ("+20 days") and personas ("member") made concrete."""
    if re.fullmatch(r"[+-]\d+ days", value):
        return day(int(value.split()[0])).isoformat()
    return people.get(value, value)


def group_fields(s: SimpleNamespace) -> dict[str, str]:
    return {
        "title": "Evening circle",
        "topic": str(Topic.objects.get(slug="anxiety").pk),
        "kind": "support",
        "description": "A calm place to talk.",
        "capacity": "8",
        "language": "en",
        "time_zone": "Europe/London",
        "transcript_retention_days": "30",
        "is_listed": "on",
    }


def edit_fields(s: SimpleNamespace) -> dict[str, str]:
    fields = group_fields(s)
    del fields["kind"]
    return fields


def once(s: SimpleNamespace) -> dict[str, str]:
    return {
        "date": in_days(20),
        "start": "18:00",
        "duration": "60",
        "room_opens_minutes": "10",
        "repeat": "once",
    }


def weekly(s: SimpleNamespace) -> dict[str, str]:
    return {**once(s), "repeat": "1", "count": "4"}


def move(s: SimpleNamespace) -> dict[str, str]:
    return {"date": in_days(30), "start": "19:00", "duration": "60", "reason": "Room change"}


@dataclass(frozen=True)
class Form:
    persona: str
    url: Callable[[SimpleNamespace], str]
    fields: Callable[[SimpleNamespace], dict[str, str]]
    answers: str = "page"  # or "redirect" (back with a message), or "bad request"


FORMS = {
    "create a group": Form("therapist", lambda s: reverse("groups:create"), group_fields),
    "edit a group": Form(
        "therapist", lambda s: reverse("groups:edit", args=[s.group.slug]), edit_fields
    ),
    "plan a session": Form(
        "therapist", lambda s: reverse("groups:schedule", args=[s.group.slug]), once
    ),
    "plan a series": Form(
        "therapist", lambda s: reverse("groups:schedule", args=[s.group.slug]), weekly
    ),
    "move a session": Form(
        "therapist", lambda s: reverse("groups:session_reschedule", args=[s.one_off.pk]), move
    ),
    "move the rest of a series": Form(
        "therapist",
        lambda s: reverse("groups:session_reschedule", args=[s.series[1].pk]),
        lambda s: {**move(s), "rest_of_series": "on"},
    ),
    "cancel a session": Form(
        "therapist",
        lambda s: reverse("groups:session_cancel", args=[s.one_off.pk]),
        lambda s: {"reason": "Unwell"},
    ),
    "cancel the rest of a series": Form(
        "therapist",
        lambda s: reverse("groups:session_cancel", args=[s.series[1].pk]),
        lambda s: {"reason": "Holiday break", "rest_of_series": "on"},
    ),
    "join with a name": Form(
        "member",
        lambda s: reverse("groups:join", args=[s.group.slug]),
        lambda s: {"pseudonym": "Quiet Heron"},
    ),
    "accept an invitation": Form(
        "member",
        lambda s: reverse("groups:invitation", args=[s.invitation.token]),
        lambda s: {"answer": "accept", "pseudonym": "Quiet Heron"},
    ),
    "invite": Form(
        "therapist",
        lambda s: reverse("groups:invite", args=[s.closed.slug]),
        lambda s: {"email": "new.person@example.com"},
        answers="redirect",
    ),
    "add a co-facilitator": Form(
        "therapist",
        lambda s: reverse("groups:co_facilitator_add", args=[s.group.slug]),
        lambda s: {"email": s.colleague.email},
        answers="redirect",
    ),
    "remove a member": Form(
        "therapist",
        lambda s: reverse("groups:member_remove", args=[s.group.slug, s.dove.pk]),
        lambda s: {"reason": "Asked to leave"},
        answers="redirect",
    ),
    "admit from the waiting list": Form(
        "therapist",
        lambda s: reverse("groups:member_admit", args=[s.group.slug, s.waiting.pk]),
        lambda s: {},
        answers="redirect",
    ),
    "admit someone who is not waiting": Form(
        "therapist",
        lambda s: reverse("groups:member_admit", args=[s.group.slug, s.dove.pk]),
        lambda s: {},
        answers="redirect",
    ),
    "calendar settings": Form(
        "member",
        lambda s: reverse("groups:calendar_settings"),
        lambda s: {"action": "names", "include_group_names": "on"},
        answers="bad request",  # calendar_views answers 400 "Unknown action." (not ours)
    ),
}

REQUIRED = "This field is required."
CHOICE = "Select a valid choice."
WHOLE = "Enter a whole number."
REAL_DATE = "Please enter a real date, as year, month and day."
TIME = "Please enter a time of day, such as 18:30."
PASSED = "This date has already passed."
TWO_YEARS = "Sessions can be planned up to two years ahead"
REASON_TOO_LONG = "Reasons can be up to 300 characters; yours has 301."

GROUP_CASES = [
    ({"title": ""}, REQUIRED),
    ({"title": "   "}, REQUIRED),
    ({"title": "x" * 121}, "Titles can be up to 120 characters; yours has 121."),
    ({"topic": ""}, REQUIRED),
    ({"topic": "999999"}, CHOICE),
    ({"topic": "anxiety"}, CHOICE),
    ({"topic": HUGE}, CHOICE),
    ({"description": "  "}, REQUIRED),
    ({"capacity": "1"}, "Ensure this value is greater than or equal to 2."),
    ({"capacity": "-5"}, "Ensure this value is greater than or equal to 2."),
    ({"capacity": HUGE}, "Ensure this value is less than or equal to 50."),
    ({"capacity": "ten"}, WHOLE),
    ({"language": "xx"}, CHOICE),
    ({"time_zone": "Mars/Olympus_Mons"}, CHOICE),
    ({"time_zone": ""}, REQUIRED),
    ({"transcript_retention_days": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"transcript_retention_days": "366"}, "Ensure this value is less than or equal to 365."),
    ({"transcript_retention_days": "1e9"}, WHOLE),
]
TIME_CASES = [
    ({"date": ""}, REQUIRED),
    ({"date": "2027-13-45"}, REAL_DATE),
    ({"date": "tomorrow"}, REAL_DATE),
    ({"date": "9999-12-31", "start": "23:30"}, TWO_YEARS),
    ({"date": in_days(800)}, TWO_YEARS),
    ({"date": "2000-01-01"}, PASSED),
    ({"date": "0001-01-01", "start": "00:00"}, PASSED),
    ({"date": in_days(-1)}, PASSED),
    ({"date": in_days(0), "start": "00:00"}, "Please choose a time in the future."),
    ({"start": ""}, REQUIRED),
    ({"start": "25:00"}, TIME),
    ({"start": "noon"}, TIME),
    ({"duration": ""}, REQUIRED),
    ({"duration": "0"}, CHOICE),
    ({"duration": "-60"}, CHOICE),
    ({"duration": "300"}, CHOICE),
    ({"duration": HUGE}, CHOICE),
    ({"duration": "sixty"}, CHOICE),
]
PLAN_CASES = [
    ({"room_opens_minutes": "-1"}, "Ensure this value is greater than or equal to 0."),
    ({"room_opens_minutes": "61"}, "Ensure this value is less than or equal to 60."),
    ({"room_opens_minutes": HUGE}, "Ensure this value is less than or equal to 60."),
    ({"room_opens_minutes": ""}, REQUIRED),
    ({"repeat": "3"}, CHOICE),
    ({"repeat": "daily"}, CHOICE),
]
SERIES_CASES = [
    ({"count": "0"}, "Ensure this value is greater than or equal to 1."),
    ({"count": "-1"}, "Ensure this value is greater than or equal to 1."),
    ({"count": "53"}, "Ensure this value is less than or equal to 52."),
    ({"count": HUGE}, "Ensure this value is less than or equal to 52."),
    ({"count": "many"}, WHOLE),
    ({"until": in_days(60)}, "give either the number of sessions or the last date (not both)"),
    ({"count": ""}, "give either the number of sessions or the last date (not both)"),
    ({"count": "", "until": in_days(10)}, "The last date is before the first session."),
    ({"count": "", "until": "9999-12-31"}, TWO_YEARS),
    ({"count": "", "until": "2027-02-30"}, REAL_DATE),
    ({"count": "", "until": in_days(400)}, "A series can run for at most a year."),
    ({"date": in_days(700), "count": "52"}, TWO_YEARS),
    ({"date": "9999-12-25", "count": "52"}, TWO_YEARS),
    (
        {"date": spring_forward(ZONE).isoformat(), "start": "01:30"},
        "because the clocks go forward that night",
    ),
]
REASON_CASES = [
    ({"reason": ""}, REQUIRED),
    ({"reason": "   "}, REQUIRED),
    ({"reason": TOO_LONG_REASON}, REASON_TOO_LONG),
]
NAME_CASES = [
    ({"pseudonym": "x" * 41}, "Names can be up to 40 characters; yours has 41."),
    ({"pseudonym": "www.me.com"}, "This looks like a web address."),
    ({"pseudonym": "me@example.com"}, "This looks like an email address."),
    ({"pseudonym": "0123 456 789"}, "This looks like a phone number."),
    ({"pseudonym": "Admin"}, "This name is kept for Hearth itself."),
    ({"pseudonym": "ab"}, "Please choose a name with at least 3 characters."),
    ({"pseudonym": "<script>"}, "Please use letters, numbers, spaces"),
    ({"pseudonym": "morning  dove"}, "Someone in this group already uses that name."),
]

CASES: list[Any] = [
    *[("create a group", bad, note) for bad, note in GROUP_CASES],
    ("create a group", {"kind": "cult"}, CHOICE),
    ("create a group", {"kind": ""}, REQUIRED),
    *[("edit a group", bad, note) for bad, note in GROUP_CASES[2::3]],
    ("edit a group", {"capacity": "2"}, "3 people already have a place"),
    *[("plan a session", bad, note) for bad, note in TIME_CASES + PLAN_CASES],
    *[("plan a series", bad, note) for bad, note in SERIES_CASES],
    *[("move a session", bad, note) for bad, note in TIME_CASES[1::2] + REASON_CASES],
    (
        "move a session",
        {"date": in_days(0), "start": "00:00"},
        "Please choose a time in the future.",
    ),
    ("move the rest of a series", {"date": "9999-12-31", "start": "23:30"}, TWO_YEARS),
    ("move the rest of a series", {"date": in_days(728)}, TWO_YEARS),
    ("move the rest of a series", {"reason": TOO_LONG_REASON}, REASON_TOO_LONG),
    *[("cancel a session", bad, note) for bad, note in REASON_CASES],
    *[("cancel the rest of a series", bad, note) for bad, note in REASON_CASES],
    *[("join with a name", bad, note) for bad, note in NAME_CASES],
    *[("accept an invitation", bad, note) for bad, note in NAME_CASES[:4]],
    (
        "accept an invitation",
        {"answer": "maybe"},
        "Please choose “Accept and join” or “No, thank you”.",
    ),
    ("invite", {"email": ""}, "Please enter a valid email address."),
    ("invite", {"email": "not-an-email"}, "Please enter a valid email address."),
    ("invite", {"email": "x" * 320 + "@example.com"}, "Please enter a valid email address."),
    ("invite", {"email": "member"}, "An invitation to this address is already waiting"),
    ("invite", {"email": "therapist"}, "You cannot invite yourself."),
    ("add a co-facilitator", {"email": ""}, "Please enter your colleague's email address"),
    ("add a co-facilitator", {"email": "nope"}, "Please enter your colleague's email address"),
    ("add a co-facilitator", {"email": "nobody@example.com"}, "We could not find a Hearth account"),
    ("add a co-facilitator", {"email": "member"}, "cannot co-facilitate this group"),
    ("add a co-facilitator", {"email": "therapist"}, "You already lead this group."),
    ("remove a member", {"reason": ""}, "Please note a short reason for removing them."),
    ("remove a member", {"reason": "   "}, "Please note a short reason for removing them."),
    ("remove a member", {"reason": TOO_LONG_REASON}, REASON_TOO_LONG),
    ("admit someone who is not waiting", {}, "This person is not on the waiting list."),
    ("calendar settings", {"action": "explode"}, "Unknown action."),
    ("calendar settings", {"action": ""}, "Unknown action."),
]


def _case_id(case: Any) -> str:
    form, bad, _note = case.values if hasattr(case, "values") else case
    shown = ", ".join(f"{name}={value[:16]!r}" for name, value in bad.items()) or "as is"
    return f"{form}: {shown}"


def state() -> dict[str, list[Any]]:
    """Everything a form in groups could change."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            TherapyGroup,
            TherapyGroup.co_facilitators.through,
            TherapyGroupUserObjectPermission,
            GroupSession,
            SessionSeries,
            Enrollment,
            Invitation,
            CalendarFeed,
            Notification,
            AuditEvent,
        )
    }


def _post(client, scene: SimpleNamespace, form: Form, changes: dict[str, str]):
    people = {"member": scene.member.email, "therapist": scene.therapist.email}
    data = {**form.fields(scene), **changes}
    data = {name: _resolved(value, people) for name, value in data.items()}
    client.force_login(getattr(scene, form.persona))
    before = state()
    response = client.post(form.url(scene), data)
    return before, response


def _notes(response) -> str:
    """What the person is told: the page itself, or the messages waiting after a redirect."""
    if response.status_code == 302:
        return " ".join(str(m) for m in get_messages(response.wsgi_request))
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("name", [name for name in FORMS if "not waiting" not in name])
def test_each_forms_baseline_is_accepted(client, scene, name):
    """So that every refusal below is caused by the bad value alone."""
    before, response = _post(client, scene, FORMS[name], {})
    assert response.status_code == 302, _notes(response)[:3000]
    assert state() != before


@pytest.mark.parametrize(("name", "bad", "note"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_gets_a_clear_note_and_changes_nothing(client, scene, name, bad, note):
    form = FORMS[name]
    before, response = _post(client, scene, form, bad)
    expected_status = {"page": 200, "redirect": 302, "bad request": 400}[form.answers]
    assert response.status_code == expected_status, _notes(response)[:3000]
    assert note in _notes(response)
    if form.answers == "page":
        assert response.context["join_form" if name == "join with a name" else "form"].errors
    assert state() == before
