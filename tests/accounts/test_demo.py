"""The demo data (`manage.py seed_demo`): what it promises, and safe to load again."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.core.management import call_command
from django.db import models
from django.utils import timezone

from accounts.demo import DEMO_PASSWORD, DEMO_PEOPLE
from accounts.models import (
    GuidelinesAcceptance,
    Notification,
    TherapistApplication,
    User,
)
from groups.demo import COLLEAGUE_EMAIL
from groups.models import (
    Enrollment,
    GroupSession,
    Invitation,
    SessionSeries,
    TherapyGroup,
)
from groups.scheduling import to_local
from groups.services import invitation_accept, session_schedule
from moderation.models import AuditEvent

pytestmark = pytest.mark.django_db

DROP_IN = "drop-in-coping-with-stress"
WEEKLY = "thursday-evening-anxiety-circle"
FULL = "living-with-grief"
SUPERVISION = "peer-supervision-for-facilitators"

SEEDED: list[type[models.Model]] = [
    User,
    EmailAddress,
    Authenticator,
    TherapistApplication,
    GuidelinesAcceptance,
    TherapyGroup,
    SessionSeries,
    GroupSession,
    Enrollment,
    Invitation,
    Notification,
    AuditEvent,
]


@pytest.fixture(autouse=True)
def _debug(settings):
    settings.DEVELOPMENT = True  # seed_demo refuses to run on production settings (DEBUG=0)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in SEEDED}


def open_rooms() -> list[GroupSession]:
    return [s for s in GroupSession.objects.select_related("group") if s.room_is_open]


def pending(slug: str) -> list[Invitation]:
    return list(Invitation.objects.filter(group__slug=slug).pending(timezone.now()))


def demo(key: str) -> User:
    return User.objects.get(email=DEMO_PEOPLE[key][0])


def end_the_open_drop_in() -> None:
    """As if the demo was seeded a while ago: the drop-in's session is long over."""
    an_hour_ago = timezone.now() - timedelta(hours=1)
    GroupSession.objects.filter(group__slug=DROP_IN).update(
        starts_at=an_hour_ago - timedelta(hours=1), ends_at=an_hour_ago, closed_at=an_hour_ago
    )
    assert open_rooms() == []


def a_session_of_the_therapist(*, starts_in: timedelta) -> GroupSession:
    """Another session the demo therapist leads, in the weekly group, ``starts_in`` from now."""
    group = TherapyGroup.objects.get(slug=WEEKLY)
    starts = to_local(timezone.now() + starts_in, time_zone=group.time_zone)
    return session_schedule(
        actor=demo("therapist"),
        group=group,
        starts_local=starts.replace(second=0, microsecond=0),
        duration_minutes=60,
    )


def test_the_demo_has_what_it_promises_and_loads_twice_without_duplicates():
    first = seed()
    after_first = counts()
    second = seed()

    assert counts() == after_first
    groups = {group.slug: group for group in TherapyGroup.objects.all()}
    assert {group.kind for group in groups.values()} == set(TherapyGroup.Kind)
    weekly = SessionSeries.objects.get(group=groups[WEEKLY])
    assert weekly.rule.startswith("FREQ=WEEKLY;INTERVAL=1")
    assert weekly.sessions.count() == 8

    full = groups[FULL]
    assert full.enrollments.filter(state=Enrollment.State.ACTIVE).count() == full.capacity
    [waiting] = full.enrollments.filter(state=Enrollment.State.WAITLISTED)
    assert waiting.user == demo("client")

    supervision = groups[SUPERVISION]
    assert supervision.kind == TherapyGroup.Kind.PEER_SUPERVISION and supervision.is_closed
    [invitation] = pending(SUPERVISION)
    assert invitation.invitee == demo("therapist")

    [room] = open_rooms()
    assert room.group == groups[DROP_IN]
    assert room.group.enrollments.filter(
        user=demo("client"), state=Enrollment.State.ACTIVE
    ).exists()

    for output in (first, second):
        assert f"password for all: {DEMO_PASSWORD}" in output
        for email, name in DEMO_PEOPLE.values():
            assert email in output and name in output
        assert "No room is open" not in output


def test_a_rerun_after_the_invitation_expired_invites_again():
    seed()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert pending(SUPERVISION) == []
    seed()
    [invitation] = pending(SUPERVISION)
    assert invitation.invitee == demo("therapist")
    assert Invitation.objects.count() == 2


def test_once_the_therapist_has_joined_a_rerun_invites_a_colleague():
    seed()
    [invitation] = pending(SUPERVISION)
    invitation_accept(actor=demo("therapist"), invitation=invitation)
    seed()
    [invitation] = pending(SUPERVISION)
    assert (invitation.email, invitation.invitee) == (COLLEAGUE_EMAIL, None)
    seed()
    assert len(pending(SUPERVISION)) == 1


def test_a_rerun_opens_a_new_drop_in_room_before_the_therapists_next_session():
    seed()
    end_the_open_drop_in()
    busy = a_session_of_the_therapist(starts_in=timedelta(minutes=25))  # not open yet

    output = seed()

    [room] = open_rooms()
    assert room.group.slug == DROP_IN
    assert room.ends_at <= busy.starts_at
    assert room.ends_at - room.starts_at >= timedelta(minutes=15)
    assert "No room is open" not in output


def test_a_rerun_while_the_therapist_leads_another_session_uses_that_room():
    seed()
    end_the_open_drop_in()
    drop_in_sessions = GroupSession.objects.filter(group__slug=DROP_IN).count()
    busy = a_session_of_the_therapist(starts_in=timedelta(minutes=3))  # its room is open

    output = seed()

    assert open_rooms() == [busy]
    assert GroupSession.objects.filter(group__slug=DROP_IN).count() == drop_in_sessions
    assert "is the group whose room is open" in output
