"""Who is told, by email, when a session moves or someone is invited: only after commit, only
the people concerned, and with subjects that say nothing about the group."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction

from accounts.exceptions import ServiceError
from accounts.models import Notification
from accounts.tasks import SUBJECTS
from groups.models import GroupSession, TherapyGroup
from groups.scheduling import to_local
from groups.services import (
    enrollment_withdraw,
    invitation_send,
    session_reschedule,
)
from tests.factories import UserFactory, make_group, make_member, make_series, make_session

pytestmark = pytest.mark.django_db

TITLE = "Evenings after losing a parent"


class RolledBack(Exception):
    pass


@pytest.fixture
def group(therapist):
    return make_group(therapist, title=TITLE, capacity=2)


def assert_neutral(subject: str, group: TherapyGroup, kind: Notification.Kind) -> None:
    """The fixed subject for ``kind``: neither the group's title nor its topic."""
    assert subject == settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + SUBJECTS[kind]
    assert group.title.casefold() not in subject.casefold()
    assert group.topic.name.casefold() not in subject.casefold()


def an_hour_later(session: GroupSession, group: TherapyGroup) -> datetime:
    return to_local(session.starts_at + timedelta(hours=1), time_zone=group.time_zone)


# --- A session moves -----------------------------------------------------------------------------


def test_members_are_told_of_a_new_time_after_commit_and_nobody_else(
    group, therapist, member, outsider, django_capture_on_commit_callbacks
):
    session = make_session(group, days_ahead=5)
    make_member(group, member)
    left = make_member(group).user
    enrollment_withdraw(actor=left, enrollment=left.enrollments.get())
    other = make_member(group).user
    waiting = make_member(group).user  # the group is full: on the waiting list

    with django_capture_on_commit_callbacks(execute=True):
        session_reschedule(
            actor=therapist,
            session=session,
            starts_local=an_hour_later(session, group),
            duration_minutes=60,
            reason="The room is double-booked",
        )
        assert mail.outbox == []  # nothing leaves before commit

    assert sorted(message.to[0] for message in mail.outbox) == sorted([member.email, other.email])
    for message in mail.outbox:
        assert len(message.to) == 1
        assert_neutral(message.subject, group, Notification.Kind.SESSION_RESCHEDULED)
    rows = Notification.objects.filter(kind=Notification.Kind.SESSION_RESCHEDULED)
    assert sorted(row.recipient_id for row in rows) == sorted([member.pk, other.pk])
    assert all(row.sent_at is not None and row.session_id == session.pk for row in rows)
    told = {message.to[0] for message in mail.outbox}
    assert not told & {waiting.email, left.email, outsider.email, therapist.email}


def test_a_series_moved_together_tells_each_member_once_per_session(
    therapist, member, django_capture_on_commit_callbacks
):
    group = make_group(therapist)
    sessions = make_series(group, count=2)
    make_member(group, member)

    with django_capture_on_commit_callbacks(execute=True):
        moved = session_reschedule(
            actor=therapist,
            session=sessions[0],
            starts_local=an_hour_later(sessions[0], group),
            duration_minutes=60,
            reason="New room",
            rest_of_series=True,
        )
    assert len(moved) == 2
    assert [message.to for message in mail.outbox] == [[member.email], [member.email]]
    assert sorted(
        Notification.objects.filter(kind=Notification.Kind.SESSION_RESCHEDULED).values_list(
            "session_id", flat=True
        )
    ) == sorted(s.pk for s in sessions)


def test_a_move_that_is_rolled_back_tells_nobody(
    group, therapist, member, django_capture_on_commit_callbacks
):
    session = make_session(group, days_ahead=5)
    make_member(group, member)
    starts = session.starts_at

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RolledBack), transaction.atomic():
            session_reschedule(
                actor=therapist,
                session=session,
                starts_local=an_hour_later(session, group),
                duration_minutes=60,
                reason="The room is double-booked",
            )
            raise RolledBack

    assert callbacks == []
    assert mail.outbox == []
    assert not Notification.objects.exists()
    session.refresh_from_db()
    assert session.starts_at == starts


# --- Someone is invited --------------------------------------------------------------------------


@pytest.fixture
def closed_group(therapist):
    group = make_group(therapist, title=TITLE, is_closed=True)
    make_session(group, days_ahead=5)
    return group


def test_the_invited_person_is_told_after_commit_and_nobody_else(
    closed_group, therapist, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invitation_send(actor=therapist, group=closed_group, email=member.email)
        assert mail.outbox == []

    [message] = mail.outbox
    assert message.to == [member.email]
    assert_neutral(message.subject, closed_group, Notification.Kind.INVITED)
    [row] = Notification.objects.filter(kind=Notification.Kind.INVITED)
    assert (row.recipient, row.email, row.object_id) == (member, "", invitation.pk)
    assert row.sent_at is not None


def test_an_address_without_an_account_is_told_at_that_address(
    closed_group, therapist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation_send(actor=therapist, group=closed_group, email="New.Person@example.org")
    [message] = mail.outbox
    assert message.to == ["New.Person@example.org"]
    assert_neutral(message.subject, closed_group, Notification.Kind.INVITED)


def test_an_invitation_that_is_rolled_back_tells_nobody(
    closed_group, therapist, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RolledBack), transaction.atomic():
            invitation_send(actor=therapist, group=closed_group, email=member.email)
            raise RolledBack
    assert callbacks == []
    assert mail.outbox == []
    assert not Notification.objects.exists()
    assert not closed_group.invitations.exists()


def test_a_refused_invitation_tells_nobody(
    closed_group, therapist, outsider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(ServiceError):
            invitation_send(actor=outsider, group=closed_group, email=UserFactory().email)
    assert callbacks == []
    assert mail.outbox == []
