"""Enrollment: who may join, the waiting list, leaving, removal and admission by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.models import Notification
from groups.models import Enrollment, TherapyGroup
from groups.services import (
    enrollment_admit,
    enrollment_create,
    enrollment_remove,
    enrollment_withdraw,
    group_update,
    invitation_send,
)
from moderation.models import AuditAction, AuditEvent
from tests.factories import UserFactory, accept_guidelines, make_group, make_member, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(therapist):
    group = make_group(therapist, capacity=2)
    make_session(group, days_ahead=7)
    return group


def audit_actions(group: TherapyGroup) -> list[str]:
    return list(
        AuditEvent.objects.filter(group_id=group.pk).order_by("id").values_list("action", flat=True)
    )


def test_a_person_who_accepted_the_guidelines_takes_a_place(group, member):
    accept_guidelines(member)
    enrollment = enrollment_create(actor=member, group=group)
    assert enrollment.state == Enrollment.State.ACTIVE
    assert enrollment.pseudonym == member.display_name
    assert enrollment.activated_at is not None
    event = AuditEvent.objects.get(action=AuditAction.ENROLLMENT_CREATED)
    assert (event.actor, event.group_id, event.details) == (member, group.pk, {"state": "active"})


def test_joining_needs_the_current_guidelines_accepted(group, member):
    with pytest.raises(ServiceError) as caught:
        enrollment_create(actor=member, group=group)
    assert caught.value.code == "guidelines_required"
    assert "accept the community guidelines" in caught.value.message
    assert not Enrollment.objects.exists()


def test_a_person_chooses_a_different_name_in_each_group(group, therapist, member):
    accept_guidelines(member)
    other = make_group(therapist, title="Another group")
    first = enrollment_create(actor=member, group=group, pseudonym="Blue Kite")
    second = enrollment_create(actor=member, group=other, pseudonym="Green Lantern")
    assert (first.pseudonym, second.pseudonym) == ("Blue Kite", "Green Lantern")


@pytest.mark.parametrize(
    ("pseudonym", "code"),
    [
        ("me@example.com", "pseudonym"),
        ("call 07700900123", "pseudonym"),
        ("Facilitator", "pseudonym"),
    ],
)
def test_a_per_group_name_follows_the_display_name_rules(group, member, pseudonym, code):
    accept_guidelines(member)
    with pytest.raises(ServiceError) as caught:
        enrollment_create(actor=member, group=group, pseudonym=pseudonym)
    assert caught.value.code == code


def test_two_members_cannot_share_a_name_in_one_group(group, member, outsider):
    make_member(group, member)
    accept_guidelines(outsider)
    with pytest.raises(ServiceError, match="already uses that name"):
        enrollment_create(actor=outsider, group=group, pseudonym=member.display_name.upper())


def test_when_the_group_is_full_people_wait_in_order(group):
    first, second = make_member(group), make_member(group)
    third, fourth = make_member(group), make_member(group)
    assert [e.state for e in (first, second)] == ["active", "active"]
    assert [(e.state, e.waitlist_position) for e in (third, fourth)] == [
        ("waitlisted", 1),
        ("waitlisted", 2),
    ]


def test_leaving_frees_the_place_for_the_first_person_waiting(
    group, django_capture_on_commit_callbacks
):
    first, _ = make_member(group), make_member(group)
    waiting1, waiting2 = make_member(group), make_member(group)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        enrollment_withdraw(actor=first.user, enrollment=first)
    waiting1.refresh_from_db()
    waiting2.refresh_from_db()
    assert (waiting1.state, waiting1.waitlist_position) == ("active", None)
    assert (waiting2.state, waiting2.waitlist_position) == ("waitlisted", 2)
    # One notice queued; the rest are the two people's sockets told to re-check (chat) and
    # the public pages forgotten.
    others = ("broadcast_on_commit", "_generation_bump")
    notices = [c for c in callbacks if getattr(c, "__qualname__", "").split(".")[0] not in others]
    assert len(notices) == 1
    [email] = mail.outbox
    assert email.to == [waiting1.user.email]
    assert email.subject == "[Hearth] A place is ready for you"
    assert group.title not in email.subject and group.topic.name not in email.subject
    assert audit_actions(group)[-2:] == [
        AuditAction.ENROLLMENT_WITHDRAWN,
        AuditAction.ENROLLMENT_PROMOTED,
    ]


def test_a_rolled_back_withdrawal_tells_no_one(group, django_capture_on_commit_callbacks):
    from django.db import transaction

    first, _, waiting = make_member(group), make_member(group), make_member(group)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            enrollment_withdraw(actor=first.user, enrollment=first)
            raise RuntimeError("the request failed")
    assert callbacks == []
    assert mail.outbox == []
    waiting.refresh_from_db()
    assert waiting.state == "waitlisted"
    assert not Notification.objects.exists()


def test_a_person_can_leave_the_waiting_list(group):
    make_member(group), make_member(group)
    waiting = make_member(group)
    enrollment_withdraw(actor=waiting.user, enrollment=waiting)
    waiting.refresh_from_db()
    assert (waiting.state, waiting.waitlist_position) == ("withdrawn", None)


def test_a_person_who_left_may_come_back(group, member):
    enrollment = make_member(group, member)
    enrollment_withdraw(actor=member, enrollment=enrollment)
    again = enrollment_create(actor=member, group=group)
    assert again.pk == enrollment.pk
    assert again.state == "active"


def test_nobody_withdraws_someone_else(group, outsider):
    enrollment = make_member(group)
    with pytest.raises(ServiceError):
        enrollment_withdraw(actor=outsider, enrollment=enrollment)


def test_the_facilitator_removes_a_member_with_a_reason(
    group, therapist, django_capture_on_commit_callbacks
):
    member = make_member(group)
    waiting = (make_member(group), make_member(group))[1]
    with pytest.raises(ServiceError, match="reason"):
        enrollment_remove(actor=therapist, enrollment=member, reason=" ")
    with django_capture_on_commit_callbacks(execute=True):
        enrollment_remove(actor=therapist, enrollment=member, reason="Repeated unkind remarks")
    member.refresh_from_db()
    waiting.refresh_from_db()
    assert (member.state, member.removed_reason) == ("removed", "Repeated unkind remarks")
    assert waiting.state == "active"
    subjects = sorted(message.subject for message in mail.outbox)
    assert subjects == [
        "[Hearth] A place is ready for you",
        "[Hearth] An update about one of your groups",
    ]
    assert all("unkind" not in message.body for message in mail.outbox)
    with pytest.raises(ServiceError, match="removed you"):
        enrollment_create(actor=member.user, group=group)


@pytest.mark.parametrize("persona", ["member", "outsider", "peer_supervisor", "staff_user"])
def test_only_the_groups_facilitators_remove_or_admit(request, group, persona):
    enrollment = make_member(group)
    actor = request.getfixturevalue(persona)
    with pytest.raises(ServiceError, match="facilitators"):
        enrollment_remove(actor=actor, enrollment=enrollment, reason="No")
    make_member(group)
    waiting = make_member(group)
    with pytest.raises(ServiceError, match="facilitators"):
        enrollment_admit(actor=actor, enrollment=waiting)


def test_a_superuser_holds_no_facilitator_rights_they_were_not_given(group, superuser):
    enrollment = make_member(group)
    with pytest.raises(ServiceError, match="facilitators"):
        enrollment_remove(actor=superuser, enrollment=enrollment, reason="No")


def test_the_facilitator_admits_from_the_waiting_list_by_hand(group, therapist):
    make_member(group), make_member(group)
    first_waiting, second_waiting = make_member(group), make_member(group)
    enrollment_admit(actor=therapist, enrollment=second_waiting)
    second_waiting.refresh_from_db()
    first_waiting.refresh_from_db()
    assert second_waiting.state == "active"
    assert first_waiting.state == "waitlisted"
    event = AuditEvent.objects.filter(action=AuditAction.ENROLLMENT_PROMOTED).get()
    assert event.details == {"by_hand": True}


def test_raising_the_capacity_gives_places_to_those_waiting(group, therapist):
    make_member(group), make_member(group)
    waiting = make_member(group)
    group_update(actor=therapist, group=group, capacity=3)
    waiting.refresh_from_db()
    assert waiting.state == "active"


def test_capacity_cannot_drop_below_the_members(group, therapist):
    make_member(group), make_member(group)
    with pytest.raises(ServiceError, match="cannot be lower"):
        group_update(actor=therapist, group=group, capacity=1)


def test_a_suspended_person_cannot_join(group, member):
    accept_guidelines(member)
    member.suspended_until = timezone.now() + timedelta(days=3)
    member.save(update_fields=["suspended_until"])
    with pytest.raises(ServiceError) as caught:
        enrollment_create(actor=member, group=group)
    assert caught.value.code == "suspended"
    assert "suspended until" in caught.value.message


def test_nobody_joins_after_the_last_session(therapist, member):
    from groups.models import GroupSession

    group = make_group(therapist)
    session = make_session(group, days_ahead=2)
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(hours=2)
    )
    accept_guidelines(member)
    with pytest.raises(ServiceError) as caught:
        enrollment_create(actor=member, group=group)
    assert caught.value.code == "ended"


def test_a_closed_group_needs_a_valid_invitation(therapist, member):
    group = make_group(therapist, is_closed=True)
    accept_guidelines(member)
    with pytest.raises(ServiceError) as caught:
        enrollment_create(actor=member, group=group)
    assert caught.value.code == "invitation_required"
    invitation = invitation_send(actor=therapist, group=group, email=member.email.upper())
    enrollment = enrollment_create(actor=member, group=group)
    assert enrollment.state == "active"
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None and invitation.invitee == member


def test_an_expired_invitation_does_not_open_the_door(therapist, member):
    group = make_group(therapist, is_closed=True)
    invitation = invitation_send(actor=therapist, group=group, email=member.email)
    invitation.expires_at = timezone.now() - timedelta(minutes=1)
    invitation.save(update_fields=["expires_at"])
    accept_guidelines(member)
    with pytest.raises(ServiceError, match="by invitation only"):
        enrollment_create(actor=member, group=group)


def test_peer_supervision_is_for_therapists_only(peer_supervisor, therapist, member):
    group = make_group(peer_supervisor, kind="peer_supervision", title="Supervision")
    assert group.is_closed
    with pytest.raises(ServiceError, match="verified therapists"):
        invitation_send(actor=peer_supervisor, group=group, email=member.email)
    invitation_send(actor=peer_supervisor, group=group, email=therapist.email)
    accept_guidelines(therapist)
    assert enrollment_create(actor=therapist, group=group).state == "active"


def test_a_client_invited_by_address_before_verification_is_still_refused(peer_supervisor):
    group = make_group(peer_supervisor, kind="peer_supervision", title="Supervision")
    invitation_send(actor=peer_supervisor, group=group, email="later@example.com")
    newcomer = UserFactory(email="later@example.com")
    accept_guidelines(newcomer)
    with pytest.raises(ServiceError, match="verified therapists"):
        enrollment_create(actor=newcomer, group=group)


def test_the_facilitator_does_not_enroll_in_their_own_group(group, therapist):
    accept_guidelines(therapist)
    with pytest.raises(ServiceError, match="facilitate this group"):
        enrollment_create(actor=therapist, group=group)


def test_the_database_holds_one_row_per_person_and_group(group, member):
    from django.db import IntegrityError, transaction

    make_member(group, member)
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.create(
            group=group, user=member, state="withdrawn", pseudonym="Other One"
        )
