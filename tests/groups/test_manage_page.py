"""The manage page's baked reads give what the separate ORM reads gave, and its kept rows carry
each page's own CSRF field."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from groups import rights, selectors
from groups.models import Enrollment, GroupSession, Invitation, SessionSeries
from groups.services import co_facilitator_add
from tests.factories import UserFactory, add_totp, make_group

pytestmark = pytest.mark.django_db


def old_reads(viewer, slug):
    """What the page read before, query by query (the ORM, with counting subqueries)."""
    now = timezone.now()
    group = (
        selectors._with_seats(
            selectors.TherapyGroup.objects.filter(
                pk__in=rights.groups_with_right(user=viewer, right=rights.VIEW_ROSTER)
            )
        )
        .select_related("topic", "facilitator")
        .filter(slug=slug)
        .first()
    )
    if group is None:
        return None
    enrollments = list(
        selectors.with_waitlist_place(
            Enrollment.objects.filter(group=group, state__in=selectors.LIVE_STATES)
        ).order_by("waitlist_position", "pseudonym")
    )
    invitations = list(
        Invitation.objects.filter(group=group)
        .pending(now)
        .select_related("invitee")
        .order_by("-created_at")
    )
    sessions = list(
        GroupSession.objects.filter(group=group, ends_at__gt=now - timedelta(days=7)).order_by(
            "starts_at"
        )[:40]
    )
    return group, enrollments, invitations, sessions, now


def assert_same_page(viewer, slug):
    old = old_reads(viewer, slug)
    page = selectors.manage_page(viewer=viewer, slug=slug)
    assert (page is None) == (old is None)
    if page is None:
        return None
    group, enrollments, invitations, sessions, now = old
    fields = [f.attname for f in type(group)._meta.concrete_fields]
    assert {f: getattr(page.group, f) for f in fields} == {f: getattr(group, f) for f in fields}
    assert (page.group.active_count, page.group.waitlist_count, page.group.seats_left) == (
        group.active_count,
        group.waitlist_count,
        group.seats_left,
    )
    assert page.topic_name == group.topic.name
    assert page.facilitator_name == group.facilitator.display_name
    co = group.co_facilitators.order_by("pk")
    assert [(p.pk, p.display_name) for p in page.co_facilitators] == [
        (p.pk, p.display_name) for p in co
    ]
    active = [e for e in enrollments if e.state == Enrollment.State.ACTIVE]
    assert [(m.pk, m.pseudonym, m.joined_at, m.muted_until) for m in page.members] == [
        (e.pk, e.pseudonym, e.activated_at or e.created_at, e.muted_until if e.is_muted else None)
        for e in active
    ]
    waiting = [e for e in enrollments if e.state == Enrollment.State.WAITLISTED]
    assert [(w.pk, w.pseudonym, w.place, w.waiting_since) for w in page.waiting] == [
        (e.pk, e.pseudonym, e.waitlist_place, e.created_at) for e in waiting
    ]
    assert [(i.pk, i.invitee_name, i.email, i.expires_at) for i in page.invitations] == [
        (i.pk, i.invitee.display_name if i.invitee_id else None, i.email, i.expires_at)
        for i in invitations
    ]
    assert [
        (s.pk, s.starts_at, s.ends_at, s.status, s.cancelled, s.cancel_reason, s.in_series)
        for s in page.sessions
    ] == [
        (
            s.pk,
            s.starts_at,
            s.ends_at,
            s.status_at(now),
            s.cancelled_at is not None,
            s.cancel_reason,
            s.series_id is not None,
        )
        for s in sessions
    ]
    assert {row.group_slug for row in [*page.members, *page.waiting, *page.sessions]} <= {slug}
    return page


@pytest.fixture
def scene(therapist):
    """A closed group with everything its manage page can show."""
    group = make_group(therapist, title="Closed", kind="therapy", is_closed=True, capacity=4)
    colleague = UserFactory(roles=[Role.THERAPIST], display_name="Second Light")
    add_totp(colleague)
    another = UserFactory(roles=[Role.THERAPIST], display_name="Another Lamp")
    add_totp(another)
    co_facilitator_add(actor=therapist, group=group, user=another)
    co_facilitator_add(actor=therapist, group=group, user=colleague)
    now = timezone.now()

    def enroll(name, state, position=None, **fields):
        return Enrollment.objects.create(
            group=group,
            user=UserFactory(),
            state=state,
            waitlist_position=position,
            pseudonym=name,
            **fields,
        )

    enroll("Zed", "active", activated_at=now - timedelta(days=3))
    enroll("amber", "active", muted_until=now + timedelta(hours=2))
    enroll("Birch", "active", muted_until=now - timedelta(hours=2))
    enroll("Gone", "withdrawn")
    enroll("Out", "removed")
    enroll("Maple", "waitlisted", position=9)
    enroll("Willow", "waitlisted", position=2)  # gaps before and after: places 1, 2, 3
    enroll("Alder", "waitlisted", position=5)
    invite = {"group": group, "invited_by": therapist}
    Invitation.objects.create(invitee=UserFactory(display_name="Named Guest"), **invite)
    Invitation.objects.create(email="guest@example.com", **invite)
    Invitation.objects.create(email="late@example.com", expires_at=now - timedelta(1), **invite)
    Invitation.objects.create(email="no@example.com", declined_at=now, **invite)
    Invitation.objects.create(email="off@example.com", revoked_at=now, **invite)
    series = SessionSeries.objects.create(
        group=group,
        rule="FREQ=WEEKLY;COUNT=50",
        first_date=date(2026, 1, 1),
        start_time=time(18),
        duration_minutes=60,
        time_zone="Europe/London",
    )

    def session(starts, minutes=60, **fields):
        GroupSession.objects.create(
            group=group,
            facilitator=therapist,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=minutes),
            **fields,
        )

    session(now - timedelta(days=9))  # over more than a week ago: not shown
    session(now - timedelta(days=2), closed_at=now - timedelta(days=2, minutes=-30))
    session(now - timedelta(minutes=10), minutes=15)  # live
    session(now + timedelta(minutes=8))  # open
    session(now + timedelta(days=1), cancelled_at=now, cancel_reason="Unwell, sorry")
    for week in range(45):  # more than the page shows
        session(now + timedelta(days=2 + 7 * week), series=series)
    return group, therapist, colleague


def test_the_facilitators_page_shows_what_the_separate_reads_showed(scene):
    group, therapist, colleague = scene
    page = assert_same_page(therapist, group.slug)
    assert {m.pseudonym for m in page.members} == {"amber", "Birch", "Zed"}  # by name
    assert [(w.pseudonym, w.place) for w in page.waiting] == [
        ("Willow", 1),
        ("Alder", 2),
        ("Maple", 3),
    ]
    assert [m.pseudonym for m in page.members if m.muted_until] == ["amber"]
    assert [i.invitee_name or i.email for i in page.invitations] == [
        "guest@example.com",
        "Named Guest",
    ]
    assert len(page.sessions) == selectors.MANAGE_SESSIONS_LIMIT
    assert {s.status for s in page.sessions} == set(GroupSession.Status)
    assert [p.display_name for p in page.co_facilitators] == ["Second Light", "Another Lamp"]
    assert_same_page(colleague, group.slug)


def test_only_holders_of_the_roster_right_get_the_page(scene, member, staff_user, superuser):
    group, _, _ = scene
    roster_only = UserFactory()
    rights.grant(user=roster_only, group=group, rights=(rights.VIEW_ROSTER,))
    assert assert_same_page(roster_only, group.slug) is not None
    for viewer in (member, staff_user, superuser):
        assert assert_same_page(viewer, group.slug) is None
    assert selectors.manage_page(viewer=AnonymousUser(), slug=group.slug) is None
    assert selectors.manage_page(viewer=roster_only, slug="no-such-group") is None


def test_each_row_form_carries_this_pages_own_csrf_field(scene):
    group, therapist, colleague = scene
    url = reverse("groups:manage", args=[group.slug])
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    first.force_login(therapist)
    second.force_login(colleague)
    html = first.get(url).content.decode()
    assert "<!--csrf-->" not in html
    rows = re.findall(r'<form class="row-form[^"]*" method="post" action="([^"]+)">\s*(.*)', html)
    assert len(rows) == 3 + 3 * 2 + 2 + 2  # members, waiting (two forms), invitations, co-leads
    assert all(
        line.startswith('<input type="hidden" name="csrfmiddlewaretoken"') for _, line in rows
    )
    html = second.get(url).content.decode()  # the rows are kept now
    assert "<!--csrf-->" not in html
    amber = Enrollment.objects.get(group=group, pseudonym="amber")
    remove = reverse("groups:member_remove", args=[group.slug, amber.pk])
    (token,) = re.findall(
        rf'action="{remove}">\s*<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"',
        html,
    )
    response = second.post(remove, {"reason": "Asked to leave", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    amber.refresh_from_db()
    assert amber.state == Enrollment.State.REMOVED


def test_the_forms_to_invite_and_add_a_co_facilitator_are_there_for_whom_they_were(scene, client):
    group, therapist, colleague = scene
    url = reverse("groups:manage", args=[group.slug])
    client.force_login(therapist)
    html = client.get(url).content.decode()
    assert "Email address of the person to invite" in html
    assert "Their email address on Hearth" in html
    client.force_login(colleague)
    html = client.get(url).content.decode()
    assert "Email address of the person to invite" in html
    assert "Their email address on Hearth" not in html  # only the lead adds co-facilitators
    assert "Step down" in html
