"""The group page's reads give the answers the separate rules give, for every viewer.

``groups.selectors.group_page`` reads the group as the viewer may see it, their enrollment
with its place in line, their first pending invitation and their rights through queries of
its own, built for speed. These tests ask it and the rules it must agree with
(``groups_visible_to``, ``with_waitlist_place``, ``Invitation.objects.addressed_to(...)
.pending(...)``, ``rights.rights_of``), for each kind of viewer and group, and compare.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from accounts.roles import Role
from groups import rights, selectors
from groups.models import Enrollment, Invitation, TherapyGroup
from tests.factories import UserFactory, make_group

pytestmark = pytest.mark.django_db


def values(instance) -> dict[str, object]:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def old_rules(viewer, group: TherapyGroup):
    """What the page read before, one rule at a time."""
    if not selectors.groups_visible_to(viewer).filter(pk=group.pk).exists():
        return None
    if not viewer.is_authenticated:
        return (None, None, frozenset())
    enrollment = selectors.with_waitlist_place(
        Enrollment.objects.filter(group=group, user=viewer)
    ).first()
    invitation = (
        Invitation.objects.filter(group=group).addressed_to(viewer).pending(timezone.now()).first()
    )
    return (enrollment, invitation, rights.rights_of(user=viewer, group=group))


def assert_same_standing(viewer, group: TherapyGroup) -> bool:
    """The page's answer equals the old rules' (and say whether the group was visible)."""
    old = old_rules(viewer, group)
    page = selectors.group_page(viewer=viewer, slug=group.slug)
    assert (page is None) == (old is None), (viewer, group.slug)
    if page is None:
        return False
    fresh = TherapyGroup.objects.get(pk=group.pk)
    assert values(page.group) == values(fresh)
    assert page.group.seats_left == fresh.capacity - fresh.seats_taken
    enrollment, invitation, held = old
    if enrollment is None:
        assert page.enrollment is None
    else:
        assert values(page.enrollment) == values(enrollment)
        assert page.enrollment.waitlist_place == enrollment.waitlist_place
    if invitation is None:
        assert page.invitation is None
    else:
        assert values(page.invitation) == values(invitation)
    assert page.rights == held
    return True


@pytest.fixture
def scene(therapist, peer_supervisor):
    """Groups of every kind, and people standing in every way towards them."""
    groups = {
        "open": make_group(therapist, title="Open"),
        "unlisted": make_group(therapist, title="Unlisted", is_listed=False),
        "closed": make_group(therapist, title="Closed", kind="therapy", is_closed=True),
        "supervision": make_group(
            peer_supervisor, title="Supervision", kind="peer_supervision", is_closed=True
        ),
        "hidden_supervision": make_group(
            peer_supervisor,
            title="Hidden supervision",
            kind="peer_supervision",
            is_closed=True,
            is_listed=False,
        ),
        "archived": make_group(therapist, title="Archived"),
        "full": make_group(therapist, title="Full", capacity=2),
    }
    TherapyGroup.objects.filter(pk=groups["archived"].pk).update(archived_at=timezone.now())
    TherapyGroup.objects.filter(pk=groups["full"].pk).update(seats_taken=2)
    people = {
        "client": UserFactory(),
        "member": UserFactory(email="Member@Example.com"),
        "waiting": UserFactory(),
        "left": UserFactory(),
        "removed": UserFactory(),
        "invitee": UserFactory(),
        "email_invitee": UserFactory(email="someone.new@example.com"),
        "expired_invitee": UserFactory(),
        "answered_invitee": UserFactory(),
        "co_facilitator": UserFactory(roles=[Role.THERAPIST]),
        "other_therapist": UserFactory(roles=[Role.THERAPIST]),
        "staff": UserFactory(roles=[Role.STAFF]),
        "superuser": UserFactory(is_superuser=True, is_staff=True),
        "inactive_facilitator": UserFactory(roles=[Role.THERAPIST], is_active=False),
        "therapist": therapist,
        "peer_supervisor": peer_supervisor,
    }

    def enroll(user, group, state, position=None):
        Enrollment.objects.create(
            group=group,
            user=user,
            state=state,
            waitlist_position=position,
            pseudonym=f"{user.pk}-{group.pk}",
        )

    everywhere = [g for name, g in groups.items() if name != "full"]
    for group in everywhere:
        enroll(people["member"], group, Enrollment.State.ACTIVE)
        enroll(people["left"], group, Enrollment.State.WITHDRAWN)
        enroll(people["removed"], group, Enrollment.State.REMOVED)
        enroll(people["waiting"], group, Enrollment.State.WAITLISTED, position=7)
    full = groups["full"]
    enroll(UserFactory(), full, Enrollment.State.WAITLISTED, position=2)  # first in line
    enroll(people["waiting"], full, Enrollment.State.WAITLISTED, position=5)  # a gap before
    enroll(people["member"], full, Enrollment.State.WAITLISTED, position=9)

    now = timezone.now()
    for group in groups.values():
        invite = {"group": group, "invited_by": group.facilitator}
        Invitation.objects.create(invitee=people["invitee"], email="", **invite)
        Invitation.objects.create(invitee=people["invitee"], email="", **invite)  # the first wins
        Invitation.objects.create(email="SOMEONE.NEW@example.com", **invite)
        Invitation.objects.create(
            invitee=people["expired_invitee"], expires_at=now - timedelta(minutes=1), **invite
        )
        Invitation.objects.create(
            invitee=people["answered_invitee"], declined_at=now - timedelta(days=1), **invite
        )
        Invitation.objects.create(
            invitee=people["answered_invitee"], revoked_at=now - timedelta(days=1), **invite
        )
    for name in ("closed", "archived", "unlisted"):
        rights.grant(user=people["co_facilitator"], group=groups[name])
        rights.grant(user=people["inactive_facilitator"], group=groups[name])
    rights.grant(user=people["staff"], group=groups["open"], rights=(rights.VIEW_ROSTER,))
    rights.grant(user=people["staff"], group=groups["archived"], rights=(rights.VIEW_ROSTER,))
    return groups, people


def test_every_viewer_stands_in_every_group_as_the_separate_rules_say(scene):
    groups, people = scene
    seen = {
        name: {g for g, group in groups.items() if assert_same_standing(person, group)}
        for name, person in [*people.items(), ("anonymous", AnonymousUser())]
    }
    listed = {"open", "closed", "full"}
    # The scene holds every case worth having: what each kind of viewer sees differs.
    assert seen["anonymous"] == listed
    assert seen["client"] == listed
    assert seen["other_therapist"] == listed | {"supervision"}
    assert seen["member"] == set(groups) - {"archived"}
    assert seen["waiting"] == set(groups) - {"archived"}
    assert seen["left"] == listed
    assert seen["invitee"] == set(groups) - {"archived"}
    assert seen["email_invitee"] == set(groups) - {"archived"}
    assert seen["expired_invitee"] == listed
    assert seen["answered_invitee"] == listed
    assert seen["co_facilitator"] == listed | {"unlisted", "archived", "supervision"}
    assert seen["inactive_facilitator"] == listed | {"unlisted", "archived", "supervision"}
    assert seen["staff"] == listed  # the roster right alone shows nothing more
    assert seen["superuser"] == listed
    assert seen["therapist"] == set(groups) - {"hidden_supervision"}
    assert seen["peer_supervisor"] == listed | {"supervision", "hidden_supervision"}


def test_the_place_in_line_counts_only_those_still_waiting_ahead(scene):
    groups, people = scene
    page = selectors.group_page(viewer=people["waiting"], slug=groups["full"].slug)
    assert page.enrollment.waitlist_place == 2
    page = selectors.group_page(viewer=people["member"], slug=groups["full"].slug)
    assert page.enrollment.waitlist_place == 3
    page = selectors.group_page(viewer=people["member"], slug=groups["open"].slug)
    assert page.enrollment.waitlist_place is None


def test_an_invitation_to_an_address_is_found_whatever_its_case(scene):
    groups, people = scene
    page = selectors.group_page(viewer=people["email_invitee"], slug=groups["closed"].slug)
    assert page.invitation.email == "SOMEONE.NEW@example.com"
    assert page.takes_part


def test_an_inactive_person_holds_no_rights_though_their_groups_stay_visible(scene):
    groups, people = scene
    page = selectors.group_page(viewer=people["inactive_facilitator"], slug=groups["closed"].slug)
    assert page.rights == frozenset()
    assert not page.takes_part


def test_a_facilitator_holds_all_three_rights_and_may_manage(scene, client):
    groups, people = scene
    page = selectors.group_page(viewer=people["co_facilitator"], slug=groups["closed"].slug)
    assert page.rights == frozenset(rights.FACILITATOR_RIGHTS)
    assert page.takes_part


def test_an_unknown_address_is_nobodys_group(scene):
    _, people = scene
    assert selectors.group_page(viewer=people["therapist"], slug="no-such-group") is None
