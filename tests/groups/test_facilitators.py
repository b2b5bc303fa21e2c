"""Facilitator rights: granted with the group, shared with co-facilitators, gone when they step
down, and never implied by a global permission."""

from __future__ import annotations

import pytest

from accounts.exceptions import ServiceError
from accounts.roles import Role
from accounts.services import role_revoke
from groups import rights
from groups.services import co_facilitator_add, co_facilitator_remove, group_archive, group_update
from moderation.models import AuditAction, AuditEvent
from tests.factories import UserFactory, add_totp, make_group, make_member, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def colleague(db):
    user = UserFactory(display_name="Second Therapist", roles=[Role.THERAPIST])
    add_totp(user)
    return user


def test_the_creator_holds_all_three_rights_and_it_is_audited(therapist):
    group = make_group(therapist)
    assert rights.rights_of(user=therapist, group=group) == frozenset(rights.FACILITATOR_RIGHTS)
    event = AuditEvent.objects.get(action=AuditAction.FACILITATOR_RIGHTS_GRANTED)
    assert (event.actor, event.target_id, event.group_id) == (
        therapist,
        str(therapist.pk),
        group.pk,
    )
    assert (
        AuditEvent.objects.filter(action=AuditAction.GROUP_CREATED, group_id=group.pk).count() == 1
    )


def test_a_co_facilitator_gets_the_rights_and_loses_them_on_stepping_down(therapist, colleague):
    group = make_group(therapist)
    co_facilitator_add(actor=therapist, group=group, user=colleague)
    assert rights.has_right(user=colleague, group=group, right=rights.VIEW_ROSTER)
    co_facilitator_remove(actor=colleague, group=group, user=colleague)
    assert rights.rights_of(user=colleague, group=group) == frozenset()
    assert not group.co_facilitators.filter(pk=colleague.pk).exists()
    actions = list(
        AuditEvent.objects.filter(target_id=str(colleague.pk)).values_list("action", flat=True)
    )
    assert actions.count(AuditAction.FACILITATOR_RIGHTS_GRANTED) == 1
    assert actions.count(AuditAction.FACILITATOR_RIGHTS_REVOKED) == 1


def test_only_the_lead_adds_co_facilitators_and_only_eligible_people(therapist, colleague, member):
    group = make_group(therapist)
    with pytest.raises(ServiceError, match="lead facilitator"):
        co_facilitator_add(actor=colleague, group=group, user=colleague)
    with pytest.raises(ServiceError, match="cannot co-facilitate"):
        co_facilitator_add(actor=therapist, group=group, user=member)
    assert rights.rights_of(user=member, group=group) == frozenset()


def test_the_lead_or_a_co_facilitator_cannot_be_added_twice(therapist, colleague):
    group = make_group(therapist)
    co_facilitator_add(actor=therapist, group=group, user=colleague)
    granted = AuditEvent.objects.filter(action=AuditAction.FACILITATOR_RIGHTS_GRANTED).count()
    with pytest.raises(ServiceError, match="You already lead this group"):
        co_facilitator_add(actor=therapist, group=group, user=therapist)
    with pytest.raises(ServiceError, match="already co-facilitates"):
        co_facilitator_add(actor=therapist, group=group, user=colleague)
    assert list(group.co_facilitators.all()) == [colleague]
    assert (
        AuditEvent.objects.filter(action=AuditAction.FACILITATOR_RIGHTS_GRANTED).count() == granted
    )


def test_nobody_else_removes_a_co_facilitator(therapist, colleague, outsider):
    group = make_group(therapist)
    co_facilitator_add(actor=therapist, group=group, user=colleague)
    with pytest.raises(ServiceError):
        co_facilitator_remove(actor=outsider, group=group, user=colleague)
    assert rights.has_right(user=colleague, group=group, right=rights.FACILITATE)


def test_global_permissions_and_superuser_status_grant_no_object_rights(therapist, superuser):
    from django.contrib.auth.models import Permission

    group = make_group(therapist)
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__model="therapygroup"))
    assert staff.has_perm("groups.facilitate_group")  # global: yes
    assert rights.rights_of(user=staff, group=group) == frozenset()  # on this group: no
    assert rights.rights_of(user=superuser, group=group) == frozenset()
    with pytest.raises(ServiceError):
        group_update(actor=superuser, group=group, capacity=20)


def test_an_inactive_facilitator_holds_no_rights(therapist):
    group = make_group(therapist)
    therapist.is_active = False
    assert rights.rights_of(user=therapist, group=group) == frozenset()


def test_editing_a_group_records_which_fields_changed(therapist):
    group = make_group(therapist)
    group_update(actor=therapist, group=group, title="A new title", is_listed=False)
    event = AuditEvent.objects.get(action=AuditAction.GROUP_EDITED)
    assert event.details == {"fields": ["title", "is_listed"]}


def test_peer_supervision_stays_closed(peer_supervisor):
    group = make_group(peer_supervisor, kind="peer_supervision", is_closed=False)
    assert group.is_closed
    with pytest.raises(ServiceError, match="always closed"):
        group_update(actor=peer_supervisor, group=group, is_closed=False)


def test_archiving_cancels_future_sessions_and_hides_the_group(therapist, member, client):
    from django.urls import reverse

    group = make_group(therapist)
    session = make_session(group, days_ahead=4)
    make_member(group, member)
    group_archive(actor=therapist, group=group)
    session.refresh_from_db()
    assert session.cancelled_at is not None
    assert session.cancel_reason == "The group has ended."
    client.force_login(member)
    assert client.get(reverse("groups:detail", args=[group.slug])).status_code == 404
    client.force_login(therapist)
    assert client.get(reverse("groups:manage", args=[group.slug])).status_code == 200


def test_the_lead_adds_and_removes_a_co_facilitator_from_the_manage_page(
    client, therapist, colleague
):
    from django.urls import reverse

    group = make_group(therapist)
    client.force_login(therapist)
    add = reverse("groups:co_facilitator_add", args=[group.slug])
    response = client.post(add, {"email": "nobody@example.com"}, follow=True)
    assert "could not find a Hearth account" in response.content.decode()
    client.post(add, {"email": colleague.email.upper()})
    assert rights.has_right(user=colleague, group=group, right=rights.FACILITATE)
    page = client.get(reverse("groups:manage", args=[group.slug])).content.decode()
    assert colleague.display_name in page
    client.force_login(colleague)
    response = client.post(reverse("groups:co_facilitator_remove", args=[group.slug, colleague.pk]))
    assert response["Location"] == reverse("groups:dashboard")
    assert rights.rights_of(user=colleague, group=group) == frozenset()
    assert client.get(reverse("groups:manage", args=[group.slug])).status_code == 404


def test_the_outsider_cannot_reach_the_co_facilitator_urls(client, therapist, colleague, outsider):
    from django.urls import reverse

    group = make_group(therapist)
    co_facilitator_add(actor=therapist, group=group, user=colleague)
    client.force_login(outsider)
    assert (
        client.post(
            reverse("groups:co_facilitator_add", args=[group.slug]), {"email": outsider.email}
        ).status_code
        == 404
    )
    assert (
        client.post(
            reverse("groups:co_facilitator_remove", args=[group.slug, colleague.pk])
        ).status_code
        == 404
    )
    assert rights.has_right(user=colleague, group=group, right=rights.FACILITATE)


# --- Losing a role ends the rights it carried ----------------------------------------------------


def revocations(user) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action=AuditAction.FACILITATOR_RIGHTS_REVOKED, target_id=str(user.pk)
        ).order_by("group_id")
    )


def test_a_therapist_struck_off_loses_every_group_they_lead_or_co_lead(
    client, staff_user, therapist, colleague, member
):
    from django.urls import reverse

    led = make_group(therapist, title="Led by them")
    therapy = make_group(therapist, title="Their therapy group", kind="therapy")
    make_session(led, days_ahead=3)
    make_member(led, member)
    co_led = make_group(colleague, title="Led by a colleague")
    co_facilitator_add(actor=colleague, group=co_led, user=therapist)

    role_revoke(actor=staff_user, user=therapist, role=Role.THERAPIST)

    for group in (led, therapy, co_led):
        assert rights.rights_of(user=therapist, group=group) == frozenset()
    assert not co_led.co_facilitators.filter(pk=therapist.pk).exists()
    assert rights.rights_of(user=colleague, group=co_led) == frozenset(rights.FACILITATOR_RIGHTS)
    assert [(e.actor, e.group_id, e.details) for e in revocations(therapist)] == [
        (staff_user, group.pk, {"reason": "role_revoked", "roles": ["therapist"]})
        for group in sorted((led, therapy, co_led), key=lambda g: g.pk)
    ]
    with pytest.raises(ServiceError, match="Only the group's facilitators"):
        make_session(led, days_ahead=4)
    led.refresh_from_db()
    with pytest.raises(ServiceError, match="Only the group's facilitators"):
        co_facilitator_add(actor=therapist, group=led, user=colleague)
    assert rights.rights_of(user=colleague, group=led) == frozenset()

    client.force_login(therapist)
    for url in (
        reverse("groups:manage", args=[led.slug]),
        reverse("groups:schedule", args=[led.slug]),
        reverse("groups:edit", args=[led.slug]),
        reverse("groups:manage", args=[co_led.slug]),
    ):
        assert client.get(url).status_code == 404, url
    assert "Led by them" not in client.get(reverse("groups:dashboard")).content.decode()


def test_a_peer_supervisor_who_steps_down_keeps_the_groups_a_therapist_may_lead(
    staff_user, peer_supervisor
):
    support = make_group(peer_supervisor)
    supervision = make_group(peer_supervisor, kind="peer_supervision")

    role_revoke(actor=staff_user, user=peer_supervisor, role=Role.PEER_SUPERVISOR)

    assert rights.rights_of(user=peer_supervisor, group=supervision) == frozenset()
    assert rights.rights_of(user=peer_supervisor, group=support) == frozenset(
        rights.FACILITATOR_RIGHTS
    )
    [event] = revocations(peer_supervisor)
    assert (event.actor, event.group_id, event.details) == (
        staff_user,
        supervision.pk,
        {"reason": "role_revoked", "roles": ["peer_supervisor"]},
    )


def test_striking_off_a_peer_supervisor_ends_both_kinds_of_group(staff_user, peer_supervisor):
    support = make_group(peer_supervisor)
    supervision = make_group(peer_supervisor, kind="peer_supervision")
    role_revoke(actor=staff_user, user=peer_supervisor, role=Role.THERAPIST)
    assert [e.group_id for e in revocations(peer_supervisor)] == sorted(
        [support.pk, supervision.pk]
    )
    assert {tuple(e.details["roles"]) for e in revocations(peer_supervisor)} == {
        ("peer_supervisor", "therapist")
    }


def test_revoking_a_role_someone_does_not_hold_leaves_their_groups_alone(staff_user, therapist):
    group = make_group(therapist)
    role_revoke(actor=staff_user, user=therapist, role=Role.PEER_SUPERVISOR)
    assert rights.rights_of(user=therapist, group=group) == frozenset(rights.FACILITATOR_RIGHTS)
    assert revocations(therapist) == []


def test_a_refused_revocation_takes_no_rights(therapist, colleague):
    group = make_group(therapist)
    with pytest.raises(ServiceError, match="Only staff"):
        role_revoke(actor=colleague, user=therapist, role=Role.THERAPIST)
    assert rights.rights_of(user=therapist, group=group) == frozenset(rights.FACILITATOR_RIGHTS)
    assert revocations(therapist) == []


def test_the_rights_go_with_the_role_when_staff_remove_it_in_the_admin(
    client, staff_user, therapist
):
    from django.urls import reverse

    group = make_group(therapist)
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "revoke_therapist", "_selected_action": [therapist.pk]},
        follow=True,
    )
    assert "Therapist role removed from 1." in response.content.decode()
    assert rights.rights_of(user=therapist, group=group) == frozenset()
    assert len(revocations(therapist)) == 1


def test_a_revocation_rolled_back_keeps_the_role_and_the_rights_together(staff_user, therapist):
    from django.db import transaction

    class RolledBack(Exception):
        pass

    group = make_group(therapist)
    with pytest.raises(RolledBack), transaction.atomic():
        role_revoke(actor=staff_user, user=therapist, role=Role.THERAPIST)
        assert rights.rights_of(user=therapist, group=group) == frozenset()
        raise RolledBack
    therapist.refresh_from_db()
    assert therapist.has_role(Role.THERAPIST)
    assert rights.rights_of(user=therapist, group=group) == frozenset(rights.FACILITATOR_RIGHTS)
    assert revocations(therapist) == []
