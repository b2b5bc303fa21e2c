"""Leaving a group asks once, on a page of its own, before anything changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.models import Enrollment
from tests.factories import make_group, make_member, make_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(therapist):
    group = make_group(therapist, capacity=2, title="Evening Circle")
    make_session(group, days_ahead=7)
    return group


def test_the_group_page_links_to_the_question_instead_of_leaving_at_once(client, group):
    enrollment = make_member(group)
    client.force_login(enrollment.user)
    page = client.get(reverse("groups:detail", args=[group.slug])).content.decode()
    leave_url = reverse("groups:leave", args=[group.slug])
    assert f'href="{leave_url}">Leave this group</a>' in page
    assert f'action="{leave_url}"' not in page


def test_leaving_asks_first_and_changes_nothing(client, group):
    enrollment = make_member(group)
    client.force_login(enrollment.user)
    response = client.get(reverse("groups:leave", args=[group.slug]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "Leave <bdi>Evening Circle</bdi>?" in page
    assert '<button type="submit" class="button--danger">Leave the group</button>' in page
    enrollment.refresh_from_db()
    assert enrollment.state == Enrollment.State.ACTIVE


def test_a_post_without_the_confirmation_only_asks(client, group):
    enrollment = make_member(group)
    client.force_login(enrollment.user)
    response = client.post(reverse("groups:leave", args=[group.slug]))
    assert response.status_code == 200
    assert "Leave <bdi>Evening Circle</bdi>?" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.state == Enrollment.State.ACTIVE


def test_confirming_leaves_and_gives_the_place_to_the_next_person(client, group):
    enrollment, _ = make_member(group), make_member(group)
    waiting = make_member(group)
    client.force_login(enrollment.user)
    url = reverse("groups:leave", args=[group.slug])
    response = client.post(url, {"confirm": "yes"}, follow=True)
    assert "You have left the group" in response.content.decode()
    enrollment.refresh_from_db()
    waiting.refresh_from_db()
    assert (enrollment.state, waiting.state) == ("withdrawn", "active")


def test_leaving_the_waiting_list_asks_in_its_own_words(client, group):
    make_member(group), make_member(group)
    waiting = make_member(group)
    client.force_login(waiting.user)
    page = client.get(reverse("groups:leave", args=[group.slug])).content.decode()
    assert "Leave the waiting list for <bdi>Evening Circle</bdi>?" in page
    assert "lose your place in the line" in page


def test_someone_not_in_the_group_cannot_reach_the_question(client, group, outsider):
    client.force_login(outsider)
    assert client.get(reverse("groups:leave", args=[group.slug])).status_code == 404
