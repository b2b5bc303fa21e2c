"""The last seat under real concurrency: 20 people, 20 connections, one place."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from groups.models import Enrollment
from groups.services import enrollment_create
from tests.factories import UserFactory, accept_guidelines, make_group, make_member

PEOPLE = 20


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_people_racing_for_the_last_seat_one_wins_and_the_rest_queue_in_order(request):
    therapist = request.getfixturevalue("therapist")
    group = make_group(therapist, capacity=2)
    make_member(group)  # one of two places taken
    racers = [UserFactory(display_name=f"Racer {i:02d}") for i in range(PEOPLE)]
    for person in racers:
        accept_guidelines(person)

    start = threading.Barrier(PEOPLE)
    errors: list[BaseException] = []

    def enroll(person):
        try:
            start.wait()
            enrollment_create(actor=person, group=group)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=enroll, args=(person,)) for person in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    enrollments = Enrollment.objects.filter(user__in=racers)
    assert enrollments.filter(state="active").count() == 1
    waiting = list(enrollments.filter(state="waitlisted").order_by("waitlist_position"))
    assert [e.waitlist_position for e in waiting] == list(range(1, PEOPLE))
    # "In order": the waiting list follows the order in which the lock served them.
    assert [e.pk for e in waiting] == sorted(e.pk for e in waiting)
