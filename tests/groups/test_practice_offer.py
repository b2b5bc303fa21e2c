"""The way to the practice room is offered where a newcomer is: the group page, the confirmation
of a place (joining, accepting an invitation, a place from the waiting list), My schedule and
How it works. (The first reminder's offer is tested with the reminders, in tests/jobs.)"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail
from django.urls import reverse

from groups.services import enrollment_remove, enrollment_withdraw, invitation_send
from tests.factories import accept_guidelines, make_group, make_member, make_session

pytestmark = pytest.mark.django_db

PRACTICE = reverse("chat:practice")
OFFER = "Try the room before your first session"


@pytest.fixture
def group(therapist):
    group = make_group(therapist, title="Evening circle", capacity=2)
    make_session(group, days_ahead=3)
    return group


def test_the_group_page_offers_it_to_members_waiting_people_and_people_who_may_join(
    client, group, member
):
    detail = reverse("groups:detail", args=[group.slug])
    assert OFFER not in client.get(detail).content.decode()  # logging in comes first
    client.force_login(member)
    assert PRACTICE in client.get(detail).content.decode()  # may join
    make_member(group, member)
    assert PRACTICE in client.get(detail).content.decode()  # a member
    make_member(group)
    waiting = make_member(group)
    client.force_login(waiting.user)
    page = client.get(detail).content.decode()
    assert "on the waiting list" in page and PRACTICE in page


def test_the_confirmation_of_a_place_offers_it(client, group, member):
    accept_guidelines(member)
    client.force_login(member)
    response = client.post(
        reverse("groups:join", args=[group.slug]), {"pseudonym": "Morning Dove"}, follow=True
    )
    page = response.content.decode()
    assert "You have a place in this group" in page
    assert f'<a href="{PRACTICE}">{OFFER}</a>' in page


def test_accepting_an_invitation_offers_it(client, therapist, member):
    group = make_group(therapist, is_closed=True, is_listed=False, title="Private group")
    make_session(group, days_ahead=5)
    invitation = invitation_send(actor=therapist, group=group, email=member.email)
    accept_guidelines(member)
    client.force_login(member)
    response = client.post(
        reverse("groups:invitation", args=[invitation.token]),
        {"answer": "accept", "pseudonym": "Quiet One"},
        follow=True,
    )
    assert f'<a href="{PRACTICE}">{OFFER}</a>' in response.content.decode()


def test_a_place_from_the_waiting_list_offers_it_by_email(
    django_capture_on_commit_callbacks, group
):
    first = make_member(group)
    make_member(group)
    waiting = make_member(group)
    with django_capture_on_commit_callbacks(execute=True):
        enrollment_withdraw(actor=first.user, enrollment=first)
    [email] = [m for m in mail.outbox if m.to == [waiting.user.email]]
    assert settings.SITE_URL + PRACTICE in email.body
    assert group.title not in email.subject


def test_my_schedule_offers_it_with_or_without_groups(client, group, member):
    client.force_login(member)
    assert PRACTICE in client.get(reverse("groups:my_schedule")).content.decode()
    make_member(group, member)
    assert PRACTICE in client.get(reverse("groups:my_schedule")).content.decode()


def test_the_offer_is_not_made_to_someone_removed_from_the_group(client, group, therapist):
    removed = make_member(group)
    enrollment_remove(actor=therapist, enrollment=removed, reason="Left the guidelines behind")
    client.force_login(removed.user)
    assert PRACTICE not in client.get(reverse("groups:detail", args=[group.slug])).content.decode()


def test_how_it_works_points_to_it(client):
    assert PRACTICE in client.get(reverse("how_it_works")).content.decode()
