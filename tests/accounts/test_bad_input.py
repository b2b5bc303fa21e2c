"""Bad input to the account and report forms: the exact plain note, nothing changed, no 500.

Each form has a working baseline (checked first, so a refusal below is caused by the one bad
value and nothing else); each case changes one or two of its fields. What
test_signup.py, test_pseudonyms.py, test_roles.py, test_guidelines.py and tests/moderation
already check (a taken or identifying name at sign-up, an unknown time zone at sign-up, every
profile error at once, three empty application fields, no tick, a replaced version, a report
without a reason) is not repeated here.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse
from django.utils import timezone

from accounts.models import GuidelinesAcceptance, Notification, TherapistApplication, User
from chat.selectors import room_access
from chat.services import message_post, room_join
from groups.models import Enrollment
from moderation import services as moderation_services
from moderation.models import AuditEvent, Report, Sanction
from tests.chat.conftest import open_session
from tests.factories import make_group, make_member

pytestmark = pytest.mark.django_db

NUL = "Quiet\x00Otter"
HUGE = str(2**63)


@pytest.fixture
def scene(member, therapist, settings):
    """A group led by ``therapist`` where ``member`` and a witness take part; its room is open,
    with an unkind message that the witness has reported (``member`` has not)."""
    settings.CHAT_RATE_LIMIT_BURST = 1000
    group = make_group(therapist, title="Evening circle")
    make_member(group, user=member)
    author, witness = make_member(group).user, make_member(group).user
    session = open_session(group)
    now = timezone.now()
    room_join(
        access=room_access(user=author, session_id=session.pk, now=now), channel_name="a", now=now
    )
    message = message_post(
        actor=author, session_id=session.pk, body="You are all pathetic", client_id=uuid.uuid4()
    ).message
    report = moderation_services.report_file(
        actor=witness, group=group, reason="harassment", message=message
    )
    return SimpleNamespace(
        member=member, therapist=therapist, group=group, message=message, report=report
    )


@dataclass(frozen=True)
class Form:
    persona: str | None  # None: nobody is logged in
    url: Callable[[SimpleNamespace], str]
    fields: dict[str, str]
    in_a_group: bool = False  # whether it needs the scene


NO_SCENE = SimpleNamespace()


def _report_url(s: SimpleNamespace) -> str:
    url = reverse("moderation:report", args=[s.group.slug])
    return f"{url}?session={s.message.session_id}&position={s.message.position}"


FORMS = {
    "sign up": Form(
        None,
        lambda s: reverse("account_signup"),
        {
            "email": "new.person@example.com",
            "display_name": "Morning Heron",
            "password1": "a-long-calm-password-7",
            "password2": "a-long-calm-password-7",
            "time_zone": "America/New_York",
        },
    ),
    "profile": Form(
        "member",
        lambda s: reverse("accounts:profile"),
        {"display_name": "Golden Finch", "time_zone": "Asia/Tokyo", "country": "JP"},
    ),
    "apply as a therapist": Form(
        "member",
        lambda s: reverse("accounts:therapist_apply"),
        {"licence_number": "HCPC-1", "issuing_body": "HCPC", "jurisdiction": "United Kingdom"},
    ),
    "accept the guidelines": Form(  # (``member`` accepted them to join the group)
        "outsider", lambda s: reverse("guidelines"), {"version": "1", "agree": "on"}
    ),
    "report a message": Form(
        "member", _report_url, {"reason": "harassment", "note": "This upset me."}, True
    ),
    "decide a report": Form(
        "therapist",
        lambda s: reverse("moderation:report_detail", args=[s.report.pk]),
        {"action": "mute", "reason": "Unkind to the group", "days": "2"},
        True,
    ),
}

REQUIRED = "This field is required."
NULL = "Null characters are not allowed."
TZ = "We do not recognise that time zone. Please pick one from the list."
NAME_TOO_LONG = "Names can be up to 40 characters; yours has 41."
EMAIL_LIKE = (
    "This looks like an email address. Your display name is shown to others, so please choose "
    "a name that does not identify you."
)
PHONE_LIKE = (
    "This looks like a phone number. Please choose a name without long numbers, so that no one "
    "can contact you outside Hearth."
)
LINK_LIKE = "This looks like a web address. Please choose a name without links."
CHARACTERS = "Please use letters, numbers, spaces, dots, apostrophes or hyphens only."
TAKEN = "Someone already uses that name. Please choose another."
RESERVED = "This name is kept for Hearth itself. Please choose another."
MISMATCH = "You must type the same password each time."
UPDATED = (
    "The guidelines were updated while you were reading. Please read the new version below "
    "and accept it."
)


def choice(value: str) -> str:
    return f"Select a valid choice. {value} is not one of the available choices."


def too_long(what: str, limit: int, length: int) -> str:
    return f"{what} can be up to {limit:,} characters; yours has {length:,}."


CASES: list[tuple[str, dict[str, str], str]] = [
    # Sign-up: what test_signup.py does not try.
    ("sign up", {"display_name": "x" * 41}, NAME_TOO_LONG),
    ("sign up", {"display_name": "   "}, REQUIRED),
    ("sign up", {"display_name": NUL}, NULL),
    ("sign up", {"display_name": "<b>Heron</b>"}, CHARACTERS),
    ("sign up", {"time_zone": ""}, REQUIRED),
    ("sign up", {"time_zone": "Europe/London\x00"}, TZ),
    ("sign up", {"email": "not-an-email"}, "Enter a valid email address."),
    ("sign up", {"password2": "a-different-password-8"}, MISMATCH),
    # Profile: each refusal on its own (test_pseudonyms.py sends three at once).
    ("profile", {"display_name": "me@example.com"}, EMAIL_LIKE),
    ("profile", {"display_name": "call 07700 900123"}, PHONE_LIKE),
    ("profile", {"display_name": "https://me.example"}, LINK_LIKE),
    ("profile", {"display_name": "passing STRANGER"}, TAKEN),
    ("profile", {"display_name": "x" * 41}, NAME_TOO_LONG),
    ("profile", {"display_name": ""}, REQUIRED),
    ("profile", {"display_name": NUL}, NULL),
    ("profile", {"display_name": "Moderator"}, RESERVED),
    ("profile", {"time_zone": "Mars/Olympus_Mons"}, TZ),
    ("profile", {"time_zone": ""}, REQUIRED),
    ("profile", {"country": "Narnia"}, choice("Narnia")),
    ("profile", {"country": "gb"}, choice("gb")),
    # Therapist application: one field at a time (test_roles.py sends all three empty).
    ("apply as a therapist", {"licence_number": "   "}, REQUIRED),
    ("apply as a therapist", {"licence_number": "x" * 65}, too_long("Licence numbers", 64, 65)),
    ("apply as a therapist", {"licence_number": "HCPC\x001"}, NULL),
    (
        "apply as a therapist",
        {"issuing_body": "x" * 201},
        too_long("The name of the issuing body", 200, 201),
    ),
    (
        "apply as a therapist",
        {"jurisdiction": "x" * 121},
        too_long("The place where it is valid", 120, 121),
    ),
    ("apply as a therapist", {"jurisdiction": ""}, REQUIRED),
    # Guidelines: a version that is not a version.
    ("accept the guidelines", {"version": "abc"}, "Enter a whole number."),
    ("accept the guidelines", {"version": ""}, REQUIRED),
    ("accept the guidelines", {"version": HUGE}, UPDATED),
    ("accept the guidelines", {"version": "-1"}, UPDATED),
    # Reports.
    ("report a message", {"reason": "revenge"}, choice("revenge")),
    ("report a message", {"note": "x" * 2001}, too_long("Notes", 2000, 2001)),
    ("report a message", {"note": "a\x00b"}, NULL),
    # Decisions on a report.
    ("decide a report", {"action": "banish"}, choice("banish")),
    ("decide a report", {"action": ""}, REQUIRED),
    ("decide a report", {"reason": "   "}, REQUIRED),
    ("decide a report", {"reason": "x" * 301}, too_long("Reasons", 300, 301)),
    ("decide a report", {"reason": "a\x00b"}, NULL),
    ("decide a report", {"days": "0"}, "Ensure this value is greater than or equal to 1."),
    ("decide a report", {"days": "366"}, "Ensure this value is less than or equal to 365."),
    ("decide a report", {"days": HUGE}, "Ensure this value is less than or equal to 365."),
    ("decide a report", {"days": "two"}, "Enter a whole number."),
    ("decide a report", {"days": ""}, "Please say for how many days."),
    ("decide a report", {"action": "suspend"}, "Only staff can suspend accounts."),
]


def _case_id(case: Any) -> str:
    form, bad, _note = case
    shown = ", ".join(f"{name}={value[:16]!r}" for name, value in bad.items())
    return f"{form}: {shown}"


def state() -> dict[str, list[Any]]:
    """Everything these forms could change."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            User,
            EmailAddress,
            TherapistApplication,
            GuidelinesAcceptance,
            Report,
            Sanction,
            Enrollment,
            Notification,
            AuditEvent,
        )
    }


def _post(client, request, form: Form, changes: dict[str, str]):
    scene = request.getfixturevalue("scene") if form.in_a_group else NO_SCENE
    if form.persona:
        client.force_login(request.getfixturevalue(form.persona))
    data = {**form.fields, **changes}
    before = state()
    return before, client.post(form.url(scene), data)


@pytest.mark.parametrize("name", FORMS)
def test_each_forms_baseline_is_accepted(client, request, name):
    """So that every refusal below is caused by the bad value alone."""
    before, response = _post(client, request, FORMS[name], {})
    assert response.status_code == 302, html.unescape(response.content.decode())[:3000]
    assert state() != before


@pytest.mark.parametrize(("name", "bad", "note"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_gets_a_plain_note_keeps_what_was_typed_and_changes_nothing(
    client, request, outsider, name, bad, note
):
    form = FORMS[name]
    before, response = _post(client, request, form, bad)
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert f"<li>{note}</li>" in page  # the whole note, as a note
    assert state() == before
    shown = response.context["form"]
    for field, value in form.fields.items():  # the rest of what was typed is still there
        if field not in bad and not field.startswith("password"):
            assert shown[field].value() in (value, True), field
