"""Every group change records exactly one audit event, by the right person, about the right thing.

Also the admin's add and delete (its change is in tests/accounts/test_roles.py), and answering
or withdrawing an invitation, which had been tested only for the outsider.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.db import models
from django.urls import reverse
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import User
from groups.models import Enrollment, GroupSession, Invitation, TherapyGroup, Topic
from groups.scheduling import to_local
from groups.services import (
    enrollment_remove,
    group_archive,
    invitation_accept,
    invitation_decline,
    invitation_revoke,
    invitation_send,
    session_schedule,
)
from moderation.models import AuditAction, AuditEvent
from tests.factories import accept_guidelines, make_group, make_member, make_series, make_session

pytestmark = pytest.mark.django_db


def the_event(action: AuditAction) -> AuditEvent:
    """The one event of ``action`` (fails if there are none, or more than one)."""
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == 1, f"{len(events)} {action} events"
    return events[0]


def about(event: AuditEvent) -> tuple[User | None, str, str, int | None]:
    return event.actor, event.target_type, event.target_id, event.group_id


def target(obj: models.Model) -> tuple[str, str]:
    return obj._meta.label_lower, str(obj.pk)


@pytest.fixture
def closed_group(therapist):
    group = make_group(therapist, is_closed=True)
    make_session(group, days_ahead=7)
    return group


# --- Groups and sessions -------------------------------------------------------------------------


def test_archiving_a_group_records_one_event_even_when_asked_twice(therapist):
    group = make_group(therapist)
    make_session(group, days_ahead=3)
    group_archive(actor=therapist, group=group)
    group_archive(actor=therapist, group=group)
    assert about(the_event(AuditAction.GROUP_ARCHIVED)) == (therapist, *target(group), group.pk)
    # Its future session was cancelled on the way, with its own event.
    assert the_event(AuditAction.SESSION_CANCELLED).group_id == group.pk


def test_an_outsider_cannot_archive_a_group_and_nothing_is_recorded(therapist, outsider):
    group = make_group(therapist)
    with pytest.raises(ServiceError):
        group_archive(actor=outsider, group=group)
    assert not AuditEvent.objects.filter(action=AuditAction.GROUP_ARCHIVED).exists()


def test_scheduling_a_session_records_one_event(therapist):
    group = make_group(therapist)
    session = make_session(group, days_ahead=5)
    event = the_event(AuditAction.SESSION_SCHEDULED)
    assert about(event) == (therapist, *target(session), group.pk)
    assert (event.session_id, event.details) == (session.pk, {"series": None})


def test_scheduling_a_series_records_one_event_per_session(therapist):
    group = make_group(therapist)
    sessions = make_series(group, count=3)
    events = AuditEvent.objects.filter(action=AuditAction.SESSION_SCHEDULED).order_by("id")
    assert [(e.actor, e.target_id, e.group_id, e.session_id) for e in events] == [
        (therapist, str(s.pk), group.pk, s.pk) for s in sessions
    ]
    assert {e.details["series"] for e in events} == {sessions[0].series_id}


def test_an_outsider_cannot_schedule_and_nothing_is_recorded(therapist, outsider):
    group = make_group(therapist)
    starts = to_local(timezone.now() + timedelta(days=3), time_zone=group.time_zone).replace(
        hour=18, minute=0, second=0, microsecond=0
    )
    with pytest.raises(ServiceError, match="Only the group's facilitators"):
        session_schedule(actor=outsider, group=group, starts_local=starts, duration_minutes=60)
    assert not GroupSession.objects.exists()
    assert not AuditEvent.objects.filter(action=AuditAction.SESSION_SCHEDULED).exists()


# --- Enrollment ----------------------------------------------------------------------------------


def test_removing_a_member_records_one_event(therapist, member):
    group = make_group(therapist)
    make_session(group, days_ahead=7)
    enrollment = make_member(group, member)
    enrollment_remove(actor=therapist, enrollment=enrollment, reason="Repeated abuse")
    event = the_event(AuditAction.ENROLLMENT_REMOVED)
    assert about(event) == (therapist, *target(enrollment), group.pk)
    assert event.details == {}  # the reason is free text: it stays out of the log


def test_an_outsider_cannot_remove_a_member_and_nothing_is_recorded(therapist, member, outsider):
    group = make_group(therapist)
    make_session(group, days_ahead=7)
    enrollment = make_member(group, member)
    with pytest.raises(ServiceError):
        enrollment_remove(actor=outsider, enrollment=enrollment, reason="Because")
    enrollment.refresh_from_db()
    assert enrollment.state == Enrollment.State.ACTIVE
    assert not AuditEvent.objects.filter(action=AuditAction.ENROLLMENT_REMOVED).exists()


# --- Invitations ---------------------------------------------------------------------------------


def test_sending_an_invitation_records_one_event(closed_group, therapist, member):
    invitation = invitation_send(actor=therapist, group=closed_group, email=member.email)
    assert about(the_event(AuditAction.INVITATION_SENT)) == (
        therapist,
        *target(invitation),
        closed_group.pk,
    )


def test_accepting_an_invitation_records_one_event_beside_the_enrollment(
    closed_group, therapist, member
):
    invitation = invitation_send(actor=therapist, group=closed_group, email=member.email)
    accept_guidelines(member)
    enrollment = invitation_accept(actor=member, invitation=invitation)
    assert about(the_event(AuditAction.INVITATION_ACCEPTED)) == (
        member,
        *target(invitation),
        closed_group.pk,
    )
    assert about(the_event(AuditAction.ENROLLMENT_CREATED)) == (
        member,
        *target(enrollment),
        closed_group.pk,
    )


def test_the_invitee_declines_and_can_no_longer_accept(closed_group, therapist, member):
    invitation = invitation_send(actor=therapist, group=closed_group, email=member.email)
    declined = invitation_decline(actor=member, invitation=invitation)
    assert declined.declined_at is not None and declined.invitee == member
    assert not Invitation.objects.filter(pk=invitation.pk).pending(timezone.now()).exists()
    assert about(the_event(AuditAction.INVITATION_DECLINED)) == (
        member,
        *target(invitation),
        closed_group.pk,
    )
    accept_guidelines(member)
    with pytest.raises(ServiceError, match="no longer open"):
        invitation_accept(actor=member, invitation=declined)
    with pytest.raises(ServiceError, match="no longer open"):
        invitation_decline(actor=member, invitation=declined)
    assert AuditEvent.objects.filter(action=AuditAction.INVITATION_DECLINED).count() == 1
    assert not Enrollment.objects.filter(user=member).exists()


def test_the_facilitator_withdraws_an_invitation_and_it_can_no_longer_be_used(
    closed_group, therapist, member
):
    invitation = invitation_send(actor=therapist, group=closed_group, email=member.email)
    withdrawn = invitation_revoke(actor=therapist, invitation=invitation)
    assert withdrawn.revoked_at is not None
    assert about(the_event(AuditAction.INVITATION_REVOKED)) == (
        therapist,
        *target(invitation),
        closed_group.pk,
    )
    accept_guidelines(member)
    with pytest.raises(ServiceError, match="no longer open"):
        invitation_accept(actor=member, invitation=withdrawn)
    with pytest.raises(ServiceError, match="no longer open"):
        invitation_revoke(actor=therapist, invitation=withdrawn)
    assert AuditEvent.objects.filter(action=AuditAction.INVITATION_REVOKED).count() == 1
    # Withdrawn, the address can be invited again.
    invitation_send(actor=therapist, group=closed_group, email=member.email)


def test_the_invitee_declines_on_the_invitation_page(client, closed_group, therapist, member):
    invitation = invitation_send(actor=therapist, group=closed_group, email=member.email)
    client.force_login(member)
    url = reverse("groups:invitation", args=[invitation.token])
    response = client.post(url, {"answer": "decline"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("groups:my_schedule")
    assert "You declined the invitation." in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.declined_at is not None
    assert the_event(AuditAction.INVITATION_DECLINED).actor == member


def test_the_facilitator_withdraws_from_the_manage_page(client, closed_group, therapist, member):
    invitation = invitation_send(actor=therapist, group=closed_group, email=member.email)
    client.force_login(therapist)
    url = reverse("groups:invitation_revoke", args=[closed_group.slug, invitation.pk])
    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("groups:manage", args=[closed_group.slug])
    assert "The invitation was withdrawn." in response.content.decode()
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert the_event(AuditAction.INVITATION_REVOKED).actor == therapist


# --- The admin -----------------------------------------------------------------------------------


def test_adding_in_the_admin_records_one_event(client, staff_user):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:groups_topic_add"),
        {"name": "Burnout", "slug": "burnout", "sort_order": 50, "is_active": "on"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    topic = Topic.objects.get(slug="burnout")
    event = the_event(AuditAction.ADMIN_OBJECT_ADDED)
    assert about(event) == (staff_user, *target(topic), None)
    entry = LogEntry.objects.get(action_flag=ADDITION)
    assert event.details == {
        "admin_log_entry": entry.pk,
        "content_type": entry.content_type_id,
    }


def test_deleting_in_the_admin_records_one_event(client, superuser):
    topic = Topic.objects.create(name="Burnout", slug="burnout")
    client.force_login(superuser)
    response = client.post(reverse("admin:groups_topic_delete", args=[topic.pk]), {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert not Topic.objects.filter(pk=topic.pk).exists()
    event = the_event(AuditAction.ADMIN_OBJECT_DELETED)
    assert about(event) == (superuser, *target(topic), None)
    assert event.details["admin_log_entry"] == LogEntry.objects.get(action_flag=DELETION).pk


def test_deleting_several_in_the_admin_records_one_event_each(client, superuser):
    topics = [
        Topic.objects.create(name="Burnout", slug="burnout"),
        Topic.objects.create(name="Shift work", slug="shift-work"),
    ]
    client.force_login(superuser)
    response = client.post(
        reverse("admin:groups_topic_changelist"),
        {"action": "delete_selected", "_selected_action": [t.pk for t in topics], "post": "yes"},
    )
    assert response.status_code == 302
    events = AuditEvent.objects.filter(action=AuditAction.ADMIN_OBJECT_DELETED)
    assert sorted((e.actor, e.target_type, e.target_id) for e in events) == sorted(
        (superuser, *target(t)) for t in topics
    )
    assert not AuditEvent.objects.filter(action=AuditAction.ADMIN_OBJECT_CHANGED).exists()


def test_staff_without_the_delete_permission_are_refused_and_nothing_is_recorded(
    client, staff_user
):
    topic = Topic.objects.create(name="Burnout", slug="burnout")
    client.force_login(staff_user)
    response = client.post(reverse("admin:groups_topic_delete", args=[topic.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Topic.objects.filter(pk=topic.pk).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.ADMIN_OBJECT_DELETED).exists()


def test_groups_cannot_be_added_or_deleted_in_the_admin(client, superuser, therapist):
    group = make_group(therapist)
    client.force_login(superuser)
    assert client.get(reverse("admin:groups_therapygroup_add")).status_code == 403
    response = client.post(reverse("admin:groups_therapygroup_delete", args=[group.pk]))
    assert response.status_code == 403
    assert TherapyGroup.objects.filter(pk=group.pk).exists()
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.ADMIN_OBJECT_ADDED, AuditAction.ADMIN_OBJECT_DELETED]
    ).exists()
