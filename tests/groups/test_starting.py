"""People who cannot start a group are told so before the form, with the way to apply."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups.models import TherapyGroup
from tests.factories import TherapistApplicationFactory

pytestmark = pytest.mark.django_db


def test_a_client_is_told_who_leads_groups_and_how_to_apply_instead_of_the_form(client, member):
    client.force_login(member)
    response = client.get(reverse("groups:create"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "led by verified therapists" in page
    assert f'href="{reverse("accounts:therapist_apply")}">Apply to be verified</a>' in page
    assert 'name="title"' not in page and "form" not in response.context


def test_a_client_posting_the_form_anyway_creates_nothing(client, member):
    client.force_login(member)
    response = client.post(reverse("groups:create"), {"title": "Mine", "kind": "support"})
    assert "led by verified therapists" in response.content.decode()
    assert not TherapyGroup.objects.exists()


def test_someone_whose_application_is_waiting_is_told_so(client, member):
    TherapistApplicationFactory(user=member)
    client.force_login(member)
    page = client.get(reverse("groups:create")).content.decode()
    assert "Your application to be verified is waiting for review" in page
    assert "Apply to be verified</a>" not in page


def test_a_therapist_gets_the_form(client, therapist):
    client.force_login(therapist)
    page = client.get(reverse("groups:create")).content.decode()
    assert 'name="title"' in page and "led by verified therapists" not in page
