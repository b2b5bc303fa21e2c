"""Attendance records: one row per person per session, for the group's facilitators only,
as a page and as CSV, every reading recorded; nobody still connected once the room closed."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from chat.attendance import attendance_records
from chat.models import Attendance
from chat.selectors import room_access
from chat.services import message_post, room_end, room_join, room_leave
from groups.models import Enrollment, GroupSession
from moderation.models import AuditAction, AuditEvent
from tests.factories import UserFactory, add_totp, make_group, make_member

pytestmark = pytest.mark.django_db


def _session_at(session: GroupSession, *, starts_at: datetime, minutes: int = 60) -> None:
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=starts_at, ends_at=starts_at + timedelta(minutes=minutes)
    )
    session.refresh_from_db()


def connect(user, session, *, at: datetime, until: datetime | None = None) -> str:
    """A connection of ``user`` opened at ``at`` (and closed at ``until``); its channel name."""
    channel = f"socket-{uuid.uuid4()}"
    access = room_access(user=user, session_id=session.pk, now=timezone.now())
    room_join(access=access, channel_name=channel, now=at)
    Attendance.objects.filter(channel_name=channel).update(last_seen_at=until or at)
    if until is not None:
        room_leave(channel_name=channel, now=until)
    return channel


def _record(session, user, *, now=None):
    pseudonym = Enrollment.objects.get(group=session.group, user=user).pseudonym
    [record] = [
        r
        for r in attendance_records(session=session, now=now or timezone.now())
        if r.name == pseudonym
    ]
    return record


def test_a_member_who_reconnected_five_times_has_one_row_with_the_minutes_they_were_there(room):
    session, alice = room["session"], room["alice"]
    start = timezone.now() - timedelta(minutes=30)
    # Six connections of five minutes, a minute apart; the first opened before the start
    # (not part of the session), and a second tab open inside the third (counted once).
    for n in range(6):
        begins = start + timedelta(minutes=6 * n)
        connect(
            alice,
            session,
            at=begins - (timedelta(minutes=3) if n == 0 else timedelta()),
            until=begins + timedelta(minutes=5),
        )
    connect(alice, session, at=start + timedelta(minutes=13), until=start + timedelta(minutes=14))
    _session_at(session, starts_at=start)

    records = attendance_records(session=session, now=start + timedelta(minutes=40))

    assert [r.name for r in records if not r.is_facilitator] == [
        Enrollment.objects.get(user=alice).pseudonym
    ]
    [record] = records
    assert record.minutes_present == 30
    assert record.first_joined == start - timedelta(minutes=3)
    assert record.last_left == start + timedelta(minutes=35)
    assert not record.still_connected


def test_messages_sent_are_counted_per_person(room):
    session, alice, bob = room["session"], room["alice"], room["bob"]
    connect(alice, session, at=timezone.now())
    connect(bob, session, at=timezone.now())
    for body in ("hello", "it was a hard week", "thank you"):
        message_post(actor=alice, session_id=session.pk, body=body, client_id=uuid.uuid4())
    message_post(actor=bob, session_id=session.pk, body="hi", client_id=uuid.uuid4())
    assert (_record(session, alice).messages_sent, _record(session, bob).messages_sent) == (3, 1)
    assert _record(session, alice).turns is None  # no round, no turns


def test_someone_connected_during_the_session_is_still_connected(room):
    session, alice = room["session"], room["alice"]
    connect(alice, session, at=timezone.now() - timedelta(minutes=7))
    Attendance.objects.update(last_seen_at=timezone.now())
    record = _record(session, alice)
    assert record.still_connected and record.minutes_present == 5  # since the start


def test_nobody_is_still_connected_after_the_session_has_closed(client, room, therapist):
    session, alice, bob = room["session"], room["alice"], room["bob"]
    start = timezone.now() - timedelta(minutes=90)
    connect(alice, session, at=start + timedelta(minutes=10))
    Attendance.objects.update(last_seen_at=timezone.now())  # its socket never said goodbye
    died = connect(bob, session, at=start + timedelta(minutes=5))
    Attendance.objects.filter(channel_name=died).update(last_seen_at=start + timedelta(minutes=20))
    _session_at(session, starts_at=start)  # ended half an hour ago; no sweep has run

    alice_record, bob_record = _record(session, alice), _record(session, bob)
    assert alice_record.last_left == session.ends_at and alice_record.minutes_present == 50
    assert bob_record.last_left == start + timedelta(minutes=20)  # its process died then
    assert bob_record.minutes_present == 15
    client.force_login(therapist)
    page = client.get(reverse("chat:attendance", args=[session.pk])).content.decode()
    assert "still connected" not in page


def test_a_session_the_facilitator_ended_early_counts_everyone_as_left_at_the_end(room, therapist):
    session, alice = room["session"], room["alice"]
    connect(alice, session, at=session.starts_at)
    Attendance.objects.update(last_seen_at=timezone.now())
    room_end(actor=therapist, session_id=session.pk)
    session.refresh_from_db()
    record = _record(session, alice, now=timezone.now() + timedelta(minutes=1))
    assert record.last_left == session.closed_at and not record.still_connected


def test_the_records_take_the_same_queries_for_one_person_or_many(room, django_assert_num_queries):
    session = room["session"]
    connect(room["alice"], session, at=timezone.now())
    with django_assert_num_queries(2):
        attendance_records(session=session, now=timezone.now())
    for _ in range(5):
        member = make_member(room["group"]).user
        connect(member, session, at=timezone.now(), until=timezone.now())
        connect(member, session, at=timezone.now())
    with django_assert_num_queries(2):
        assert len(attendance_records(session=session, now=timezone.now())) == 6


# --- The page and the CSV ----------------------------------------------------------------------


def _download(client, session) -> list[list[str]]:
    response = client.get(reverse("chat:attendance_csv", args=[session.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_the_facilitator_downloads_the_records_as_csv(client, room, therapist):
    session, alice = room["session"], room["alice"]
    start = session.starts_at
    connect(alice, session, at=start, until=start + timedelta(minutes=3))
    connect(alice, session, at=start + timedelta(minutes=4), until=start + timedelta(minutes=5))
    message_post(actor=alice, session_id=session.pk, body="hello", client_id=uuid.uuid4())
    client.force_login(therapist)

    header, *rows = _download(client, session)

    assert header == [
        "name_in_group",
        "role",
        "first_joined_utc",
        "last_left_utc",
        "minutes_present",
        "messages_sent",
        "turns_in_rounds",
    ]
    assert rows == [
        [
            Enrollment.objects.get(user=alice).pseudonym,
            "member",
            start.isoformat(),
            (start + timedelta(minutes=5)).isoformat(),
            "4",
            "1",
            "",
        ]
    ]
    assert alice.email not in str(rows)


def test_reading_and_downloading_attendance_are_recorded(client, room, therapist):
    session = room["session"]
    connect(room["alice"], session, at=timezone.now())
    client.force_login(therapist)
    client.get(reverse("chat:attendance", args=[session.pk]))
    _download(client, session)
    events = AuditEvent.objects.filter(
        action__in=[AuditAction.ATTENDANCE_READ, AuditAction.ATTENDANCE_EXPORTED]
    ).order_by("id")
    assert [(e.action, e.actor, e.session_id, e.group_id, e.details) for e in events] == [
        (AuditAction.ATTENDANCE_READ, therapist, session.pk, session.group_id, {"people": 1}),
        (AuditAction.ATTENDANCE_EXPORTED, therapist, session.pk, session.group_id, {"people": 1}),
    ]


def test_members_outsiders_and_other_groups_facilitators_get_a_404(client, room, outsider):
    session = room["session"]
    connect(room["alice"], session, at=timezone.now())
    other_therapist = UserFactory(roles=[Role.THERAPIST])
    add_totp(other_therapist)
    make_group(other_therapist, title="Another circle")
    for person in (room["alice"], outsider, other_therapist):
        client.force_login(person)
        for name in ("chat:attendance", "chat:attendance_csv"):
            assert client.get(reverse(name, args=[session.pk])).status_code == 404
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.ATTENDANCE_READ, AuditAction.ATTENDANCE_EXPORTED]
    ).exists()


@pytest.mark.parametrize("name", ['=HYPERLINK("x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)"])
def test_a_name_that_a_spreadsheet_would_run_as_a_formula_is_written_as_text(
    client, room, therapist, name
):
    session, alice = room["session"], room["alice"]
    Enrollment.objects.filter(user=alice).update(pseudonym=name)
    connect(alice, session, at=timezone.now())
    client.force_login(therapist)
    _, row = _download(client, session)
    assert row[0] == "'" + name
