"""Waiting-list places are shown as they are now: "next", "2nd", "3rd", whoever left."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from groups.selectors import waitlist_place
from groups.services import enrollment_admit, enrollment_create, enrollment_withdraw
from tests.factories import UserFactory, accept_guidelines, make_group, make_member, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(therapist):
    group = make_group(therapist, capacity=2)
    make_session(group, days_ahead=7)
    return group


def test_joining_a_full_group_says_the_place_in_words(client, group):
    make_member(group), make_member(group), make_member(group)
    newcomer = UserFactory()
    accept_guidelines(newcomer)
    client.force_login(newcomer)
    response = client.post(reverse("groups:join", args=[group.slug]), follow=True)
    assert "so you are 2nd on the waiting list" in response.content.decode()


def test_when_someone_ahead_gets_a_place_the_next_person_reads_you_are_next(client, group):
    first, _ = make_member(group), make_member(group)
    ahead, waiting, behind = make_member(group), make_member(group), make_member(group)
    assert [waitlist_place(enrollment=e) for e in (ahead, waiting, behind)] == [1, 2, 3]
    enrollment_withdraw(actor=first.user, enrollment=first)
    client.force_login(waiting.user)
    page = client.get(reverse("groups:detail", args=[group.slug])).content.decode()
    assert "You are next on the waiting list" in page
    schedule = client.get(reverse("groups:my_schedule")).content.decode()
    assert "You are next on the waiting list for" in schedule
    client.force_login(behind.user)
    page = client.get(reverse("groups:detail", args=[group.slug])).content.decode()
    assert "You are 2nd on the waiting list" in page


def test_when_someone_ahead_leaves_the_list_everyone_behind_moves_up(group):
    make_member(group), make_member(group)
    ahead, waiting, behind = make_member(group), make_member(group), make_member(group)
    enrollment_withdraw(actor=waiting.user, enrollment=waiting)
    assert waitlist_place(enrollment=ahead) == 1
    assert waitlist_place(enrollment=behind) == 2
    assert waitlist_place(enrollment=waiting) is None


def test_the_facilitator_sees_places_as_they_are_now(client, therapist, group):
    make_member(group), make_member(group)
    admitted, _ = make_member(group), make_member(group)
    enrollment_admit(actor=therapist, enrollment=admitted)
    client.force_login(therapist)
    page = client.get(reverse("groups:manage", args=[group.slug])).content.decode()
    table = page[page.index('id="waiting-caption"') :]
    places = re.findall(r"<td>(Next|\d+\w\w)</td>", table)
    assert places == ["Next"]
    assert '<th scope="col">Place</th>' in page and ">Number<" not in page


def test_a_later_joiner_goes_to_the_end_whatever_the_gaps(group):
    make_member(group), make_member(group)
    ahead, waiting = make_member(group), make_member(group)
    enrollment_withdraw(actor=ahead.user, enrollment=ahead)
    latecomer = UserFactory()
    accept_guidelines(latecomer)
    late = enrollment_create(actor=latecomer, group=group)
    assert waitlist_place(enrollment=waiting) == 1
    assert waitlist_place(enrollment=late) == 2
