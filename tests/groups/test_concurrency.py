"""The last seat under real concurrency: 20 people, 20 connections, one place."""

from __future__ import annotations

import functools

import pytest

from groups.models import Enrollment
from groups.services import enrollment_create
from tests.concurrency import at_once
from tests.factories import UserFactory, accept_guidelines, make_group, make_member

PEOPLE = 20


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_people_racing_for_the_last_seat_one_wins_and_the_rest_queue_in_order(request):
    therapist = request.getfixturevalue("therapist")
    group = make_group(therapist, capacity=2)
    make_member(group)  # one of two places taken
    racers = [UserFactory(display_name=f"Racer {i:02d}") for i in range(PEOPLE)]
    for person in racers:
        accept_guidelines(person)

    # Any error in any of them is raised here.
    at_once(*(functools.partial(enrollment_create, actor=person, group=group) for person in racers))
    enrollments = Enrollment.objects.filter(user__in=racers)
    assert enrollments.filter(state="active").count() == 1
    waiting = list(enrollments.filter(state="waitlisted").order_by("waitlist_position"))
    assert [e.waitlist_position for e in waiting] == list(range(1, PEOPLE))
    # "In order": the waiting list follows the order in which the lock served them.
    assert [e.pk for e in waiting] == sorted(e.pk for e in waiting)
