"""The hot pages run a fixed number of queries, whatever the amount of data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from groups.models import (
    Enrollment,
    GroupSession,
    Invitation,
    TherapyGroup,
    TherapyGroupUserObjectPermission,
    Topic,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def populate(*, facilitator, member, groups: int) -> TherapyGroup:
    """``groups`` groups led by ``facilitator``, three sessions each, ``member`` in every
    other one, a few others enrolled (and on each group's row, what the services would have
    stored). Returns one of the groups."""
    topic = Topic.objects.get(slug="anxiety")
    start = timezone.now() + timedelta(hours=1)
    made = TherapyGroup.objects.bulk_create(
        TherapyGroup(
            title=f"Group {i}",
            slug=f"group-{i}",
            topic=topic,
            kind="support",
            description="A calm group.",
            facilitator=facilitator,
            capacity=10,
            time_zone="Europe/London",
            next_session_starts_at=start + timedelta(hours=6 * i),
            next_session_closes_at=start + timedelta(hours=6 * i, minutes=60),
            seats_taken=4 if i % 2 == 0 else 3,
        )
        for i in range(groups)
    )
    GroupSession.objects.bulk_create(
        GroupSession(
            group=group,
            facilitator=facilitator,
            starts_at=start + timedelta(hours=2 * (3 * i + k)),
            ends_at=start + timedelta(hours=2 * (3 * i + k), minutes=60),
        )
        for i, group in enumerate(made)
        for k in range(3)
    )
    others = [UserFactory() for _ in range(3)]
    Enrollment.objects.bulk_create(
        [
            Enrollment(group=g, user=member, state="active", pseudonym=f"Me {i}")
            for i, g in enumerate(made)
            if i % 2 == 0
        ]
        + [
            Enrollment(group=g, user=o, state="active", pseudonym=f"Other {i}-{j}")
            for i, g in enumerate(made)
            for j, o in enumerate(others)
        ]
    )
    perms = Permission.objects.filter(
        content_type__model="therapygroup",
        codename__in=["facilitate_group", "view_roster", "manage_sessions"],
    )
    TherapyGroupUserObjectPermission.objects.bulk_create(
        TherapyGroupUserObjectPermission(user=facilitator, content_object=g, permission=p)
        for g in made
        for p in perms
    )
    Invitation.objects.bulk_create(
        Invitation(group=made[0], invitee=o, email=o.email, invited_by=facilitator) for o in others
    )
    return made[0]


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


@pytest.fixture
def counts(client, therapist, member):
    def measure(groups: int) -> dict[str, int]:
        sample = populate(facilitator=therapist, member=member, groups=groups)
        client.force_login(member)
        client.get(reverse("home"))  # the login's first request also records the device
        directory = reverse("groups:directory")
        filtered = directory + "?q=Group&seats=on&language=en"
        group = reverse("groups:detail", args=[sample.slug])
        result = {
            "directory": queries_for(client, directory),
            "directory_kept": queries_for(client, directory),
            "directory_filtered": queries_for(client, filtered),
            "directory_filtered_kept": queries_for(client, filtered),
            "group": queries_for(client, group),
            "group_kept": queries_for(client, group),
            "my_schedule": queries_for(client, reverse("groups:my_schedule")),
        }
        client.force_login(therapist)
        client.get(reverse("home"))
        result["dashboard"] = queries_for(client, reverse("groups:dashboard"))
        result["manage"] = queries_for(client, reverse("groups:manage", args=[sample.slug]))
        client.logout()
        result["directory_anonymous"] = queries_for(client, reverse("groups:directory"))
        return result

    return measure


# A logged-in request's fixed cost is one query: the person listed for the login's session with
# their roles, object rights, second factor and guidelines standing, and the session's row
# (accounts.session_store, accounts.backends). It was four (session, person, privileges,
# guidelines), and five for anyone who must use two-step login; then two (the session, then
# the person); now one, so every logged-in page here dropped by one more. Activity is
# recorded at most once a minute, on the warm-up request here. The rest is the page's own
# reads. The directory's list and a group's details are shared through the cache
# (config.page_cache.shared_part): "_kept" is a second visit, which reads them from there.
# The directory asks once whether this member sees the same groups as everyone (one query);
# the group page reads the row it may see, then the details on a miss.
# My schedule reads its sessions, the waiting lists, the invitations and the open check-outs
# in one baked query each (config.baked: each built by the ORM from its rule's own function,
# once per process), the four in one round trip; "Groups I lead" its groups (places and next
# session off the row) and its sessions, together. The manage page reads the group with its
# topic, facilitator and co-facilitators, its roster and waiting list, its invitations and
# its sessions in four baked queries, together. Queries sent together are counted one each.
EXPECTED = {
    "directory": 5,
    "directory_kept": 2,
    "directory_filtered": 5,
    "directory_filtered_kept": 2,
    "group": 8,
    "group_kept": 5,
    "my_schedule": 5,  # with the check-outs open now
    "dashboard": 3,
    "manage": 5,
    "directory_anonymous": 3,
}


def test_each_hot_page_runs_the_same_fixed_number_of_queries_with_few_groups(counts):
    assert counts(4) == EXPECTED


def test_each_hot_page_runs_the_same_fixed_number_of_queries_with_hundreds_of_groups(counts):
    assert counts(300) == EXPECTED


def test_the_directory_runs_as_many_queries_while_the_sweep_is_behind(client, therapist, member):
    populate(facilitator=therapist, member=member, groups=30)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    behind = TherapyGroup.objects.order_by("pk").values("pk")[:5]
    TherapyGroup.objects.filter(pk__in=behind).update(
        next_session_starts_at=an_hour_ago - timedelta(hours=1),
        next_session_closes_at=an_hour_ago,
    )
    assert queries_for(client, reverse("groups:directory")) == EXPECTED["directory_anonymous"]
    client.force_login(member)
    client.get(reverse("home"))
    assert queries_for(client, reverse("groups:directory")) == EXPECTED["directory"]
