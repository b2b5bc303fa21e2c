"""Roles: therapist verification, peer supervisors, staff; each change audited."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.exceptions import ServiceError
from accounts.models import TherapistApplication
from accounts.roles import Role
from accounts.services import (
    role_grant,
    role_revoke,
    therapist_application_reject,
    therapist_application_submit,
    therapist_application_verify,
)
from moderation.models import AuditAction, AuditEvent
from tests.factories import TherapistApplicationFactory, UserFactory

pytestmark = pytest.mark.django_db


def events(action: AuditAction) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_a_person_applies_and_staff_verify_them_as_a_therapist(member, staff_user):
    application = therapist_application_submit(
        actor=member, licence_number=" HCPC-123 ", issuing_body="HCPC", jurisdiction="UK"
    )
    assert application.licence_number == "HCPC-123"
    assert not member.has_role(Role.THERAPIST)

    therapist_application_verify(actor=staff_user, application=application)

    application.refresh_from_db()
    assert application.status == TherapistApplication.Status.VERIFIED
    assert application.decided_by == staff_user
    member.refresh_from_db()
    assert member.has_role(Role.THERAPIST)
    assert member.requires_mfa
    [applied] = events(AuditAction.THERAPIST_APPLIED)
    [verified] = events(AuditAction.THERAPIST_VERIFIED)
    [granted] = events(AuditAction.ACCOUNT_ROLE_GRANTED)
    assert applied.actor == member
    assert verified.actor == staff_user
    assert verified.target_id == str(application.pk)
    assert (granted.actor, granted.target_id, granted.details) == (
        staff_user,
        str(member.pk),
        {"role": "therapist"},
    )


def test_a_rejection_needs_a_reason_and_grants_nothing(member, staff_user):
    application = TherapistApplicationFactory(user=member)
    with pytest.raises(ServiceError, match="reason"):
        therapist_application_reject(actor=staff_user, application=application, reason="  ")
    therapist_application_reject(
        actor=staff_user, application=application, reason="The licence number did not match."
    )
    member.refresh_from_db()
    assert not member.has_role(Role.THERAPIST)
    assert len(events(AuditAction.THERAPIST_REJECTED)) == 1
    assert events(AuditAction.ACCOUNT_ROLE_GRANTED) == []


def test_an_application_is_decided_once(member, staff_user):
    application = TherapistApplicationFactory(user=member)
    therapist_application_verify(actor=staff_user, application=application)
    with pytest.raises(ServiceError, match="already been decided"):
        therapist_application_reject(actor=staff_user, application=application, reason="late")


def test_only_one_application_waits_at_a_time(member):
    TherapistApplicationFactory(user=member)
    with pytest.raises(ServiceError, match="already waiting"):
        therapist_application_submit(
            actor=member, licence_number="X", issuing_body="Y", jurisdiction="Z"
        )


@pytest.mark.parametrize("persona", ["member", "therapist", "outsider"])
def test_only_staff_verify_therapists(request, persona):
    application = TherapistApplicationFactory()
    with pytest.raises(ServiceError, match="Only staff"):
        therapist_application_verify(
            actor=request.getfixturevalue(persona), application=application
        )
    assert not AuditEvent.objects.filter(action=AuditAction.THERAPIST_VERIFIED).exists()


def test_peer_supervisors_are_appointed_from_verified_therapists_only(
    staff_user, member, therapist
):
    with pytest.raises(ServiceError, match="verified therapists only"):
        role_grant(actor=staff_user, user=member, role=Role.PEER_SUPERVISOR)
    role_grant(actor=staff_user, user=therapist, role=Role.PEER_SUPERVISOR)
    therapist.refresh_from_db()
    assert therapist.has_role(Role.PEER_SUPERVISOR)


def test_only_a_superuser_appoints_staff(staff_user, superuser, member):
    with pytest.raises(ServiceError, match="Only a superuser"):
        role_grant(actor=staff_user, user=member, role=Role.STAFF)
    role_grant(actor=superuser, user=member, role=Role.STAFF)
    member.refresh_from_db()
    assert member.is_staff and member.has_role(Role.STAFF)
    role_revoke(actor=superuser, user=member, role=Role.STAFF)
    member.refresh_from_db()
    assert not member.is_staff
    assert [e.details for e in events(AuditAction.ACCOUNT_ROLE_REVOKED)] == [{"role": "staff"}]


def test_revoking_the_therapist_role_ends_peer_supervision_too(staff_user, peer_supervisor):
    role_revoke(actor=staff_user, user=peer_supervisor, role=Role.THERAPIST)
    peer_supervisor.refresh_from_db()
    assert peer_supervisor.roles == frozenset()
    assert sorted(e.details["role"] for e in events(AuditAction.ACCOUNT_ROLE_REVOKED)) == [
        "peer_supervisor",
        "therapist",
    ]


def test_granting_a_role_twice_records_it_once(staff_user, therapist):
    role_grant(actor=staff_user, user=therapist, role=Role.PEER_SUPERVISOR)
    role_grant(actor=staff_user, user=therapist, role=Role.PEER_SUPERVISOR)
    assert len(events(AuditAction.ACCOUNT_ROLE_GRANTED)) == 1


def test_role_groups_hold_the_permissions_the_apps_declare():
    staff = Group.objects.get(name="staff")
    perms = {f"{p.content_type.app_label}.{p.codename}" for p in staff.permissions.all()}
    assert {"accounts.change_therapistapplication", "moderation.view_auditevent"} <= perms
    assert "moderation.change_auditevent" not in perms
    assert (
        not Group.objects.get(name="therapist")
        .permissions.filter(content_type__app_label="moderation")
        .exists()
    )


# --- Through the admin, as staff use it ----------------------------------------------------------


def test_staff_verify_an_application_in_the_admin(client, staff_user):
    application = TherapistApplicationFactory()
    client.force_login(staff_user)
    url = reverse("admin:accounts_therapistapplication_change", args=[application.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"decision": "verify", "reason": ""})
    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == TherapistApplication.Status.VERIFIED
    assert len(events(AuditAction.THERAPIST_VERIFIED)) == 1
    assert len(events(AuditAction.ADMIN_OBJECT_CHANGED)) == 1


def test_rejecting_in_the_admin_without_a_reason_is_explained(client, staff_user):
    application = TherapistApplicationFactory()
    client.force_login(staff_user)
    url = reverse("admin:accounts_therapistapplication_change", args=[application.pk])
    response = client.post(url, {"decision": "reject", "reason": ""})
    assert response.status_code == 200
    assert "Please give the applicant a reason." in response.content.decode()
    application.refresh_from_db()
    assert application.status == TherapistApplication.Status.PENDING


def test_staff_appoint_a_peer_supervisor_with_an_admin_action(
    client, staff_user, therapist, member
):
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "appoint_peer_supervisor", "_selected_action": [therapist.pk, member.pk]},
        follow=True,
    )
    page = response.content.decode()
    assert "1 appointed as peer supervisor." in page
    assert "verified therapists only" in page
    therapist.refresh_from_db()
    assert therapist.has_role(Role.PEER_SUPERVISOR)


def test_an_admin_edit_of_a_person_writes_an_audit_event(client, staff_user, member):
    client.force_login(staff_user)
    url = reverse("admin:accounts_user_change", args=[member.pk])
    response = client.post(
        url,
        {
            "display_name": "Renamed Person",
            "email": member.email,
            "time_zone": member.time_zone,
            "country": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    [event] = events(AuditAction.ADMIN_OBJECT_CHANGED)
    assert (event.actor, event.target_type, event.target_id) == (
        staff_user,
        "accounts.user",
        str(member.pk),
    )


def test_staff_cannot_give_themselves_roles_through_the_user_form(client, staff_user):
    client.force_login(staff_user)
    url = reverse("admin:accounts_user_change", args=[staff_user.pk])
    client.post(
        url,
        {
            "display_name": staff_user.display_name,
            "email": staff_user.email,
            "time_zone": "UTC",
            "country": "",
            "is_active": "on",
            "is_superuser": "on",
            "groups": [Group.objects.get(name="therapist").pk],
        },
    )
    staff_user.refresh_from_db()
    assert not staff_user.is_superuser
    assert not staff_user.groups.filter(name="therapist").exists()


@pytest.mark.parametrize("persona", ["member", "therapist", "outsider"])
def test_people_who_are_not_staff_are_refused_by_the_admin(client, request, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("admin:accounts_therapistapplication_changelist"), follow=True)
    assert response.status_code == 403


def test_a_person_applies_through_the_page(client, member):
    client.force_login(member)
    url = reverse("accounts:therapist_apply")
    response = client.post(url, {"licence_number": "", "issuing_body": "", "jurisdiction": ""})
    assert response.status_code == 200
    assert response.content.decode().count("This field is required.") == 3
    response = client.post(
        url, {"licence_number": "HCPC-1", "issuing_body": "HCPC", "jurisdiction": "UK"}
    )
    assert response.status_code == 302
    assert TherapistApplication.objects.filter(user=member, status="pending").exists()
    response = client.post(
        url, {"licence_number": "HCPC-2", "issuing_body": "HCPC", "jurisdiction": "UK"}
    )
    assert "already waiting for review" in response.content.decode()
    assert TherapistApplication.objects.filter(user=member).count() == 1


def test_a_superuser_is_not_asked_about_roles_they_do_not_hold(superuser):
    assert superuser.roles == frozenset()
    assert UserFactory().roles == frozenset()
