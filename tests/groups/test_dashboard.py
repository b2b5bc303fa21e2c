"""The facilitator dashboard ("Groups I lead"): a way into every open or live room."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from groups.models import GroupSession
from tests.factories import make_group, make_session
from tests.groups.test_query_counts import EXPECTED, populate, queries_for

pytestmark = pytest.mark.django_db


def _on_the_clock(
    session: GroupSession, *, started_minutes_ago: int, minutes: int = 60
) -> GroupSession:
    now = timezone.now()
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=now - timedelta(minutes=started_minutes_ago),
        ends_at=now + timedelta(minutes=minutes - started_minutes_ago),
    )
    session.refresh_from_db()
    return session


def test_groups_i_lead_links_into_every_open_or_live_room_and_no_other(client, therapist):
    group = make_group(therapist)
    live = _on_the_clock(make_session(group, days_ahead=3), started_minutes_ago=25, minutes=30)
    opening = _on_the_clock(make_session(group, days_ahead=4), started_minutes_ago=-6)
    upcoming = make_session(group, days_ahead=2)
    assert live.status == GroupSession.Status.LIVE
    assert opening.status == GroupSession.Status.OPEN
    client.force_login(therapist)
    page = client.get(reverse("groups:dashboard")).content.decode()
    assert reverse("chat:room", args=[live.pk]) in page
    assert reverse("chat:room", args=[opening.pk]) in page
    assert reverse("chat:room", args=[upcoming.pk]) not in page


def test_groups_i_lead_offers_no_way_into_a_cancelled_room(client, therapist):
    from groups.services import session_cancel

    group = make_group(therapist)
    session = make_session(group, days_ahead=3)
    session_cancel(actor=therapist, session=session, reason="Unwell today")
    session = _on_the_clock(session, started_minutes_ago=-5)
    client.force_login(therapist)
    page = client.get(reverse("groups:dashboard")).content.decode()
    assert reverse("chat:room", args=[session.pk]) not in page


def test_groups_i_lead_runs_its_fixed_queries_with_rooms_open(client, therapist, member):
    populate(facilitator=therapist, member=member, groups=12)
    now = timezone.now()
    # One facilitator leads one session at a time (a database constraint): one room open.
    GroupSession.objects.filter(pk=GroupSession.objects.order_by("pk").first().pk).update(
        starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(minutes=55)
    )
    client.force_login(therapist)
    client.get(reverse("home"))
    assert queries_for(client, reverse("groups:dashboard")) == EXPECTED["dashboard"]
    page = client.get(reverse("groups:dashboard")).content.decode()
    assert page.count("Open the room") == 1
