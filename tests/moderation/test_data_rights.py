"""Each person's data rights: a copy of their own data, and erasure that leaves nothing personal."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import models
from django.urls import reverse
from django.utils import timezone

from chat.models import Message
from chat.selectors import room_access
from chat.services import message_post, room_join, round_pass, round_start
from groups.models import CheckOut, Enrollment, GroupSession, Reminder, ReminderPreference
from groups.services import checkout_answer, note_create
from moderation.models import AuditAction, AuditEvent, Report, Sanction
from moderation.services import report_file, report_mute
from tests.chat.conftest import open_session
from tests.factories import (
    PASSWORD,
    UserFactory,
    accept_guidelines,
    make_group,
    make_member,
    make_session,
)

pytestmark = pytest.mark.django_db

# A marker no other data contains (letters only: long numbers look like phone numbers).
MARK = "zq" + "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:8])


@pytest.fixture
def person(therapist, settings):
    """Someone who took part: enrolled, wrote, was in a room, filed a report, applied, was
    reported and muted, and had reminders due."""
    settings.CHAT_RATE_LIMIT_BURST = 1000
    from accounts.services import therapist_application_submit

    user = UserFactory(email=f"{MARK}@example.com", display_name=f"Person {MARK}", country="GB")
    accept_guidelines(user)
    group = make_group(therapist, capacity=2)
    from groups.services import enrollment_create

    enrollment_create(actor=user, group=group, pseudonym=f"Nick {MARK}")
    other = UserFactory()
    accept_guidelines(other)
    enrollment_create(actor=other, group=group, pseudonym="Other Nick")
    waiting = make_member(group)
    session = open_session(group)
    now = timezone.now()
    room_join(
        access=room_access(user=user, session_id=session.pk, now=now), channel_name="p1", now=now
    )
    room_join(
        access=room_access(user=other, session_id=session.pk, now=now), channel_name="p2", now=now
    )
    mine = message_post(
        actor=user, session_id=session.pk, body=f"My secret {MARK}", client_id=uuid.uuid4()
    )
    theirs = message_post(
        actor=other, session_id=session.pk, body="Something unkind", client_id=uuid.uuid4()
    )
    # A check-in round, in which they passed.
    round_start(actor=therapist, session_id=session.pk, prompt="Check-in")
    round_pass(actor=user, session_id=session.pk)
    report_file(
        actor=user, group=group, reason="harassment", message=theirs.message, note=f"Upset {MARK}"
    )
    therapist_application_submit(
        actor=user, licence_number=f"LIC{MARK}", issuing_body="HCPC", jurisdiction="UK"
    )
    # They were reported in turn, and muted for it; and reminders were on their way to them.
    about_them = report_file(actor=other, group=group, reason="other", message=mine.message)
    report_mute(
        actor=therapist, report=about_them, reason="Cooling off", until=now + timedelta(days=2)
    )
    # The facilitator kept private notes on them, and on the session.
    note_create(actor=therapist, session=session, subject=user, body=f"Low today {MARK}")
    note_create(actor=therapist, session=session, body="Quiet session overall")
    # After an earlier session both answered its check-out.
    earlier = make_session(group, days_ahead=2)
    GroupSession.objects.filter(pk=earlier.pk).update(
        starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=2)
    )
    earlier.refresh_from_db()
    checkout_answer(actor=user, session=earlier, feeling=2, words=f"Tired {MARK}", now=now)
    checkout_answer(actor=other, session=earlier, feeling=4, words="Other felt fine", now=now)
    upcoming = make_session(group)
    ReminderPreference.objects.create(user=user, quarter_hour=False)
    Reminder.objects.create(
        user=user,
        session=upcoming,
        lead_minutes=Reminder.Lead.DAY,
        due_at=upcoming.starts_at - timedelta(days=1),
    )
    return {"user": user, "group": group, "other": other, "waiting": waiting}


def test_a_person_downloads_their_data_after_reentering_their_password(client, person):
    user = person["user"]
    client.force_login(user)
    url = reverse("moderation:my_data")
    wrong = client.post(url, {"password": "not it"})
    assert "That password is not right" in wrong.content.decode()
    response = client.post(url, {"password": PASSWORD})
    assert response["Content-Type"].startswith("application/json")
    data = json.loads(response.content)
    assert data["profile"]["email"] == user.email
    assert [e["name_in_group"] for e in data["enrollments"]] == [f"Nick {MARK}"]
    assert [m["text"] for m in data["messages"]] == [f"My secret {MARK}"]
    assert data["reports_filed"][0]["your_words"] == f"Upset {MARK}"
    assert len(data["attendance"]) == 1
    assert [(t["prompt"], t["turn"]) for t in data["round_turns"]] == [("Check-in", "Passed")]
    # Other people appear only by the name they use in the group.
    dumped = json.dumps(data)
    assert person["other"].email not in dumped
    assert person["other"].display_name not in dumped
    assert "Other Nick" in dumped
    # Their own check-out answer is theirs; nobody else's is in it.
    [checkout] = data["check_outs"]
    assert (checkout["how_it_was"], checkout["your_words"]) == (2, f"Tired {MARK}")
    assert "Other felt fine" not in dumped
    # Facilitators' private notes are never part of it.
    assert "Low today" not in dumped and "Quiet session" not in dumped
    assert AuditEvent.objects.filter(action=AuditAction.DATA_EXPORTED, actor=user).count() == 1


def _text_fields(model: type[models.Model]) -> list[str]:
    return [
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField | models.EmailField | models.JSONField)
    ]


def test_closing_an_account_leaves_nothing_personal_in_the_database(client, person):
    user = person["user"]
    client.force_login(user)
    response = client.post(reverse("moderation:close_account"), {"password": PASSWORD})
    assert "Please tick the box" in response.content.decode()
    response = client.post(
        reverse("moderation:close_account"), {"password": PASSWORD, "confirm": "on"}
    )
    assert "Your account is closed" in response.content.decode()

    # Nothing personal of theirs is left anywhere: search every text column of every table.
    secrets = [MARK, user.email, "My secret", f"Upset {MARK}"]
    found = []
    for model in apps.get_models():
        for name in _text_fields(model):
            for secret in secrets:
                lookup = {f"{name}__icontains": secret}
                if model._default_manager.filter(**lookup).exists():
                    found.append(f"{model._meta.label}.{name} contains {secret!r}")
    assert found == []

    user.refresh_from_db()
    assert (user.is_active, user.email, user.has_usable_password()) == (False, "", False)
    assert user.display_name == f"Former member {user.pk}"
    assert not client.login(email=f"{MARK}@example.com", password=PASSWORD)
    assert client.get(reverse("accounts:profile")).status_code == 302  # logged out at once
    # Audit references stay valid; the tombstone row is what they point at.
    assert AuditEvent.objects.filter(actor=user).exists()
    assert AuditEvent.objects.filter(action=AuditAction.ACCOUNT_ERASED, actor=user).count() == 1
    # Their place went to the person waiting; their report stays, pseudonymised.
    person["waiting"].refresh_from_db()
    assert person["waiting"].state == Enrollment.State.ACTIVE
    report = Report.objects.get(reporter=user)
    assert report.note == ""
    assert Message.objects.filter(author__user=user, body="").count() == 1
    # Reports about them and their sanctions stay, pointing at the tombstone.
    assert Report.objects.filter(subject=user, outcome=Report.Outcome.MUTED).count() == 1
    assert Sanction.objects.filter(subject=user, kind=Sanction.Kind.GROUP_MUTE).count() == 1
    # Pending jobs go: no reminder is left to send them, nor their reminder choices.
    assert not Reminder.objects.filter(user=user).exists()
    assert not ReminderPreference.objects.filter(user=user).exists()
    # Their check-out answers went with their words; the other member's stays.
    assert list(CheckOut.objects.values_list("words", flat=True)) == ["Other felt fine"]


def test_a_facilitator_closing_their_account_ends_their_groups(client, therapist, member):
    group = make_group(therapist)
    client.force_login(therapist)
    client.post(reverse("moderation:close_account"), {"password": PASSWORD, "confirm": "on"})
    group.refresh_from_db()
    assert group.archived_at is not None
