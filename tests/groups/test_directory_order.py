"""The directory lists groups by their next session (none last), then title, then id, page by
page, exactly as the sessions stand now; and its page reads only the page, through an index."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from groups import selectors
from groups.models import GroupSession, TherapyGroup
from groups.services import session_cancel, session_end
from tests.factories import UserFactory, make_group, make_member, make_session
from tests.groups.test_directory_listing import let_time_pass, open_now
from tests.groups.test_query_counts import populate

pytestmark = pytest.mark.django_db

PAGE = 20


def expected(groups: list[TherapyGroup], now: datetime) -> list[tuple[int, datetime | None]]:
    """The order worked out from the sessions themselves: (group id, next session start)."""
    rows = []
    for group in groups:
        starts = [
            s.starts_at
            for s in GroupSession.objects.filter(group=group)
            if s.cancelled_at is None and s.closes_at > now
        ]
        nxt = min(starts, default=None)
        rows.append(((nxt is None, nxt or now, group.title, group.pk), (group.pk, nxt)))
    return [row for _, row in sorted(rows)]


def listed(viewer=None) -> list[tuple[int, datetime | None]]:
    """Every page of the directory, in turn, as the view pages it."""
    results = selectors.directory(
        viewer=viewer or AnonymousUser(), filters=selectors.DirectoryFilters(), viewer_zone="UTC"
    )
    paginator = Paginator(results, PAGE)
    return [
        (group.pk, group.next_starts_at)
        for number in paginator.page_range
        for group in paginator.page(number).object_list
    ]


@pytest.fixture
def many(therapist):
    """Groups in every state a next session can be in, over two pages."""
    # Four leads, so that sessions moved onto the clock never overlap one lead's others.
    other, third, fourth = (UserFactory(roles=[Role.THERAPIST]) for _ in range(3))
    groups = [make_group(therapist, title=f"Weekly group {i:02d}") for i in range(36)]
    for i, group in enumerate(groups):
        make_session(group, days_ahead=1 + i % 9, hour=8 + i // 9)
    # The same title and the same next start: the id decides.
    twin_a = make_group(therapist, title="Twin group")
    twin_b = make_group(other, title="Twin group")
    make_session(twin_a, days_ahead=3, hour=20)
    make_session(twin_b, days_ahead=3, hour=20)
    # The same next start, titles apart.
    make_session(make_group(other, title="Aardvark circle"), days_ahead=1, hour=8)
    # None to come: never scheduled, only cancelled, archived or unlisted ones are left out.
    make_group(therapist, title="Not yet scheduled")
    make_group(other, title="Also not yet scheduled")
    cancelled = make_group(other, title="Only a cancelled one")
    session_cancel(
        actor=other, session=make_session(cancelled, days_ahead=2, hour=7), reason="Unwell."
    )
    make_session(make_group(therapist, title="Hidden", is_listed=False), days_ahead=1, hour=6)
    # Under way now: it is the next session until it closes.
    live = make_group(other, title="Under way")
    open_now(make_session(live, days_ahead=20, hour=6))
    # Ended early by the facilitator: the following one is next.
    ended = make_group(third, title="Ended early")
    make_session(ended, days_ahead=10, hour=6)
    session_end(actor=third, session=open_now(make_session(ended, days_ahead=21, hour=6)))
    # Stale: its stored next session ended a minute ago and no sweep has run since.
    stale = make_group(fourth, title="Stale on its row")
    first = make_session(stale, days_ahead=15, hour=6)
    make_session(stale, days_ahead=17, hour=6)
    let_time_pass(stale, first.ends_at - timezone.now() + timedelta(minutes=1))
    stale.refresh_from_db()
    assert stale.next_session_closes_at < timezone.now()
    return list(TherapyGroup.objects.filter(is_listed=True, archived_at__isnull=True))


def test_the_directory_pages_groups_by_next_session_then_title_then_id(many):
    shown = listed()
    assert len(shown) == len(many) > 2 * PAGE
    assert shown == expected(many, timezone.now())


def test_a_group_whose_stored_next_session_has_closed_shows_the_one_after(many):
    stale = TherapyGroup.objects.get(title="Stale on its row")
    following = stale.sessions.order_by("starts_at").last()
    assert (stale.pk, following.starts_at) in listed()


def test_each_page_of_the_view_shows_its_part_in_order(client, many):
    order = [pk for pk, _ in expected(many, timezone.now())]
    slugs = dict(TherapyGroup.objects.values_list("pk", "slug"))
    for number in (1, 2, 3):
        page = client.get(reverse("groups:directory"), {"page": number}).content.decode()
        part = order[(number - 1) * PAGE : number * PAGE]
        positions = [
            page.index(f'href="{reverse("groups:detail", args=[slugs[pk]])}"') for pk in part
        ]
        assert positions == sorted(positions), number
    assert f"{len(many)} groups found" in page


def test_free_places_come_from_the_row_and_filter_the_list(client, therapist):
    full = make_group(therapist, title="Full circle", capacity=2)
    roomy = make_group(therapist, title="Roomy circle", capacity=3)
    for days, group in enumerate((full, roomy), start=2):
        make_session(group, days_ahead=days)
        make_member(group), make_member(group)
    page = client.get(reverse("groups:directory")).content.decode()
    assert "1 place left" in page and "Full — waiting list open" in page
    only_free = client.get(reverse("groups:directory"), {"seats": "on"}).content.decode()
    assert "Roomy circle" in only_free and "Full circle" not in only_free


# --- Reading only the page -----------------------------------------------------------------------


def plan_of_page(viewer) -> dict:
    """EXPLAIN ANALYZE of the query that reads the directory's first page."""
    results = selectors.directory(
        viewer=viewer, filters=selectors.DirectoryFilters(), viewer_zone="UTC"
    )
    paginator = Paginator(results, PAGE)
    with CaptureQueriesContext(connection) as captured:
        page = paginator.page(1)
        assert len(page.object_list) == PAGE
    sql = captured.captured_queries[-1]["sql"]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        [[plan]] = cursor.fetchall()
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


@pytest.mark.parametrize("persona", ["anonymous", "member"])
def test_the_first_page_reads_twenty_groups_through_the_index_not_all_of_them(
    therapist, member, persona
):
    populate(facilitator=therapist, member=member, groups=400)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE groups_therapygroup")
    plan = plan_of_page(AnonymousUser() if persona == "anonymous" else member)
    assert plan["Node Type"] == "Limit"
    scans = [n for n in nodes(plan) if n.get("Relation Name") == "groups_therapygroup"]
    assert [(n["Node Type"], n.get("Index Name")) for n in scans] == [
        ("Index Scan", "group_directory_order")
    ]
    assert scans[0]["Actual Rows"] <= PAGE + 1  # the page, not the 400 groups
    assert not [n for n in nodes(plan) if n["Node Type"] == "Sort"]
