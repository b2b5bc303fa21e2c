"""The code of conduct: versioned, accepted once per version, asked again when it changes."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.exceptions import ServiceError
from accounts.models import GuidelinesAcceptance
from accounts.selectors import (
    guidelines_accepted_current,
    guidelines_current,
    guidelines_standing,
)
from accounts.services import guidelines_accept, guidelines_publish
from moderation.models import AuditAction, AuditEvent
from tests.factories import GuidelinesVersionFactory

pytestmark = pytest.mark.django_db


def test_the_first_version_is_in_force_from_the_start():
    current = guidelines_current()
    assert current is not None and current.version == 1
    assert "Be kind." in current.body


def test_a_person_reads_and_accepts_the_guidelines(client, member):
    client.force_login(member)
    assert "please read our guidelines and agree" in client.get(reverse("home")).content.decode()
    page = client.get(reverse("guidelines")).content.decode()
    assert "Be kind." in page
    assert "I agree" in page
    response = client.post(reverse("guidelines"), {"version": 1, "agree": "on"})
    assert response.status_code == 302
    assert guidelines_accepted_current(user=member)
    acceptance = GuidelinesAcceptance.objects.get(user=member)
    assert acceptance.version.version == 1 and acceptance.accepted_at is not None
    assert (
        AuditEvent.objects.filter(action=AuditAction.GUIDELINES_ACCEPTED, actor=member).count() == 1
    )
    assert "please read our guidelines" not in client.get(reverse("home")).content.decode()


def test_accepting_without_ticking_the_box_is_explained(client, member):
    client.force_login(member)
    response = client.post(reverse("guidelines"), {"version": 1})
    assert response.status_code == 200
    assert "Please tick the box" in response.content.decode()
    assert not guidelines_accepted_current(user=member)


def test_publishing_a_new_version_asks_everyone_again(staff_user, member):
    guidelines_accept(actor=member, version=guidelines_current())
    draft = GuidelinesVersionFactory(version=2)
    assert guidelines_accepted_current(user=member)  # a draft changes nothing
    guidelines_publish(actor=staff_user, version=draft)
    assert not guidelines_accepted_current(user=member)
    assert AuditEvent.objects.filter(action=AuditAction.GUIDELINES_PUBLISHED).count() == 1


def test_accepting_a_version_that_was_replaced_meanwhile_is_refused(client, staff_user, member):
    guidelines_publish(actor=staff_user, version=GuidelinesVersionFactory(version=2))
    client.force_login(member)
    response = client.post(reverse("guidelines"), {"version": 1, "agree": "on"})
    assert response.status_code == 200
    assert "updated while you were reading" in response.content.decode()
    assert not GuidelinesAcceptance.objects.filter(user=member).exists()
    with pytest.raises(ServiceError):
        from accounts.models import GuidelinesVersion

        guidelines_accept(actor=member, version=GuidelinesVersion.objects.get(version=1))


def test_only_staff_publish(member):
    with pytest.raises(ServiceError):
        guidelines_publish(actor=member, version=GuidelinesVersionFactory(version=3))


def test_an_anonymous_visitor_can_read_but_must_log_in_to_accept(client):
    assert client.get(reverse("guidelines")).status_code == 200
    response = client.post(reverse("guidelines"), {"version": 1, "agree": "on"})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_after_accepting_the_person_returns_where_they_were_but_never_offsite(client, member):
    client.force_login(member)
    url = reverse("guidelines") + "?next=https://evil.example/"
    response = client.post(url, {"version": 1, "agree": "on"})
    assert response["Location"] == reverse("guidelines")


def test_a_newcomer_is_welcomed_to_the_guidelines_not_told_they_changed(client, member):
    client.force_login(member)
    home = client.get(reverse("home")).content.decode()
    assert "Welcome to Hearth. Before you join a group" in home
    assert "updated" not in home
    page = client.get(reverse("guidelines")).content.decode()
    assert "Welcome to Hearth." in page
    assert "updated" not in page and "What changed" not in page
    assert "The first guidelines" not in page


def test_someone_who_accepted_an_earlier_version_is_told_what_changed(client, staff_user, member):
    guidelines_accept(actor=member, version=guidelines_current())
    newer = GuidelinesVersionFactory(version=2, summary_of_changes="Rounds are explained.")
    guidelines_publish(actor=staff_user, version=newer)
    client.force_login(member)
    home = client.get(reverse("home")).content.decode()
    assert "Our guidelines have been updated" in home and "Welcome to Hearth." not in home
    page = client.get(reverse("guidelines")).content.decode()
    assert "What changed in this version:</strong> Rounds are explained." in page
    assert "Welcome to Hearth." not in page


def test_where_a_person_stands_with_the_guidelines_is_one_query(
    django_assert_num_queries, staff_user, member
):
    with django_assert_num_queries(1):
        assert guidelines_standing(user=member) == "first"
    guidelines_accept(actor=member, version=guidelines_current())
    with django_assert_num_queries(1):
        assert guidelines_standing(user=member) == "accepted"
    guidelines_publish(actor=staff_user, version=GuidelinesVersionFactory(version=2))
    with django_assert_num_queries(1):
        assert guidelines_standing(user=member) == "update"
