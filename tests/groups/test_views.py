"""Group pages through HTTP: every id-carrying URL answers 404 to those who may not see it,
forms explain bad input, and the flows people use work end to end."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import Role
from groups.models import Enrollment, GroupSession, Invitation, TherapyGroup
from groups.scheduling import to_local
from groups.services import invitation_send
from tests.dates import SUNDAY, before, spring_forward
from tests.factories import (
    UserFactory,
    accept_guidelines,
    add_totp,
    make_group,
    make_member,
    make_session,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def listed(therapist):
    group = make_group(therapist, title="Listed group")
    make_session(group, days_ahead=3)
    return group


@pytest.fixture
def hidden(therapist):
    """An unlisted, closed group with a member, a waiting person and a pending invitation."""
    group = make_group(therapist, title="Hidden group", is_listed=False, is_closed=True, capacity=2)
    make_session(group, days_ahead=4, hour=10)
    invitation_send(actor=therapist, group=group, email="someone@example.com")
    for _n in range(3):
        person = UserFactory()
        invitation_send(actor=therapist, group=group, email=person.email)
        make_member(group, person)
    return group


def id_urls(group: TherapyGroup) -> list[tuple[str, str]]:
    """(method, url) for every URL that names this group or one of its parts."""
    session = group.sessions.first()
    enrollment = group.enrollments.first()
    invitation = group.invitations.filter(accepted_at__isnull=True).first()
    slug = group.slug
    urls = [
        ("get", reverse("groups:detail", args=[slug])),
        ("post", reverse("groups:join", args=[slug])),
        ("get", reverse("groups:leave", args=[slug])),
        ("post", reverse("groups:leave", args=[slug])),
        ("get", reverse("groups:manage", args=[slug])),
        ("get", reverse("groups:edit", args=[slug])),
        ("post", reverse("groups:edit", args=[slug])),
        ("post", reverse("groups:archive", args=[slug])),
        ("get", reverse("groups:schedule", args=[slug])),
        ("post", reverse("groups:schedule", args=[slug])),
        ("post", reverse("groups:invite", args=[slug])),
        ("get", reverse("groups:session_reschedule", args=[session.pk])),
        ("post", reverse("groups:session_reschedule", args=[session.pk])),
        ("get", reverse("groups:session_cancel", args=[session.pk])),
        ("post", reverse("groups:session_cancel", args=[session.pk])),
        ("get", reverse("groups:session_ics", args=[session.pk])),
    ]
    if enrollment:
        urls += [
            ("post", reverse("groups:member_remove", args=[slug, enrollment.pk])),
            ("post", reverse("groups:member_admit", args=[slug, enrollment.pk])),
        ]
    if invitation:
        urls += [
            ("post", reverse("groups:invitation_revoke", args=[slug, invitation.pk])),
            ("get", reverse("groups:invitation", args=[invitation.token])),
            ("post", reverse("groups:invitation", args=[invitation.token])),
        ]
    return urls


def test_the_outsider_gets_404_from_every_url_of_a_group_they_may_not_see(client, outsider, hidden):
    client.force_login(outsider)
    before = (
        Enrollment.objects.count(),
        GroupSession.objects.filter(cancelled_at__isnull=True).count(),
        Invitation.objects.filter(revoked_at__isnull=True).count(),
    )
    for method, url in id_urls(hidden):
        response = getattr(client, method)(url, {"reason": "x", "email": "a@example.com"})
        assert response.status_code == 404, f"{method.upper()} {url} gave {response.status_code}"
    assert before == (
        Enrollment.objects.count(),
        GroupSession.objects.filter(cancelled_at__isnull=True).count(),
        Invitation.objects.filter(revoked_at__isnull=True).count(),
    )


def test_a_member_sees_the_group_but_not_its_facilitator_pages(client, listed):
    member = make_member(listed).user
    client.force_login(member)
    assert client.get(reverse("groups:detail", args=[listed.slug])).status_code == 200
    for name in ("groups:manage", "groups:edit", "groups:schedule"):
        assert client.get(reverse(name, args=[listed.slug])).status_code == 404
    session = listed.sessions.first()
    assert client.get(reverse("groups:session_cancel", args=[session.pk])).status_code == 404


def test_a_facilitator_of_another_group_is_an_outsider_here(client, hidden, peer_supervisor):
    make_group(peer_supervisor, kind="peer_supervision", title="Their own group")
    client.force_login(peer_supervisor)
    for method, url in id_urls(hidden):
        if "/calendar.ics" in url or ("/invitations/" in url and method == "get"):
            continue
        assert getattr(client, method)(url).status_code == 404, url


def test_a_superuser_without_the_right_sees_no_roster(client, superuser, hidden):
    client.force_login(superuser)
    assert client.get(reverse("groups:manage", args=[hidden.slug])).status_code == 404


def test_anonymous_visitors_are_asked_to_log_in_for_personal_pages(client, listed):
    for name in (
        "groups:my_schedule",
        "groups:dashboard",
        "groups:create",
        "groups:calendar_settings",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
    assert client.get(reverse("groups:directory")).status_code == 200
    assert client.get(reverse("groups:detail", args=[listed.slug])).status_code == 200


def test_the_directory_lists_only_what_the_viewer_may_see(
    client, member, listed, hidden, peer_supervisor
):
    supervision = make_group(peer_supervisor, kind="peer_supervision", title="Supervision circle")
    supervision.is_listed = True
    supervision.save(update_fields=["is_listed"])
    client.force_login(member)
    page = client.get(reverse("groups:directory")).content.decode()
    assert "Listed group" in page
    assert "Hidden group" not in page
    assert "Supervision circle" not in page
    therapist_view = UserFactory(roles=[Role.THERAPIST])
    add_totp(therapist_view)
    client.force_login(therapist_view)
    assert "Supervision circle" in client.get(reverse("groups:directory")).content.decode()


def test_directory_filters_by_day_and_time_in_the_viewers_zone(client, therapist):
    group = make_group(therapist, time_zone="Europe/London", title="Late group")
    session = make_session(group, days_ahead=9, hour=23)
    viewer = UserFactory(time_zone="Asia/Tokyo")
    client.force_login(viewer)
    local = session.starts_at.astimezone(timezone.get_fixed_timezone(9 * 60))
    url = reverse("groups:directory")
    hit = client.get(url, {"weekday": local.isoweekday(), "time_of_day": "morning"})
    assert "Late group" in hit.content.decode()
    miss = client.get(url, {"weekday": local.isoweekday(), "time_of_day": "evening"})
    assert "Late group" not in miss.content.decode()


def test_directory_text_search_topic_and_free_places(client, therapist, member):
    full = make_group(therapist, title="Quiet mornings", capacity=2)
    make_session(full, days_ahead=2, hour=9)
    make_member(full), make_member(full)
    grief = make_group(
        therapist, title="After a loss", topic=full.topic.__class__.objects.get(slug="grief")
    )
    make_session(grief, days_ahead=2, hour=12)
    client.force_login(member)
    url = reverse("groups:directory")
    assert "Quiet mornings" in client.get(url, {"q": "mornings"}).content.decode()
    assert "After a loss" not in client.get(url, {"q": "mornings"}).content.decode()
    assert "Quiet mornings" not in client.get(url, {"topic": "grief"}).content.decode()
    assert "Quiet mornings" not in client.get(url, {"seats": "on"}).content.decode()
    bad = client.get(url, {"weekday": "nine", "topic": "<script>", "page": "x"})
    assert bad.status_code == 200
    assert "<script>" not in bad.content.decode()


def test_joining_through_the_page(client, member, listed):
    client.force_login(member)
    url = reverse("groups:join", args=[listed.slug])
    response = client.post(url, {"pseudonym": ""})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("guidelines"))
    assert not Enrollment.objects.filter(user=member).exists()
    accept_guidelines(member)
    response = client.post(url, {"pseudonym": "Morning Dove"}, follow=True)
    assert "You have a place in this group" in response.content.decode()
    assert Enrollment.objects.get(user=member).pseudonym == "Morning Dove"
    response = client.post(
        reverse("groups:leave", args=[listed.slug]), {"confirm": "yes"}, follow=True
    )
    assert "You have left the group" in response.content.decode()


def test_a_bad_name_when_joining_is_explained(client, member, listed):
    accept_guidelines(member)
    client.force_login(member)
    response = client.post(
        reverse("groups:join", args=[listed.slug]), {"pseudonym": "www.me.com"}, follow=True
    )
    assert "looks like a web address" in response.content.decode()
    assert not Enrollment.objects.exists()


@pytest.mark.parametrize(
    ("pseudonym", "explained"),
    [
        ("A name far longer than the forty characters allowed", "Names can be up to 40 characters"),
        ("www.me.com", "looks like a web address"),
        ("me@example.com", "looks like an email address"),
        ("Moderator", "kept for Hearth itself"),
    ],
)
def test_a_refused_name_when_joining_keeps_what_was_typed_and_enrolls_no_one(
    client, member, listed, pseudonym, explained
):
    accept_guidelines(member)
    client.force_login(member)
    response = client.post(reverse("groups:join", args=[listed.slug]), {"pseudonym": pseudonym})
    assert response.status_code == 200
    form = response.context["join_form"]
    assert explained in " ".join(form.errors["pseudonym"])
    page = response.content.decode()
    assert explained in page
    assert f'value="{pseudonym}"' in page
    assert not Enrollment.objects.exists()


def test_a_name_already_used_in_the_group_is_explained_beside_the_name(client, member, listed):
    make_member(listed, display_name="Morning Dove")
    accept_guidelines(member)
    client.force_login(member)
    response = client.post(
        reverse("groups:join", args=[listed.slug]), {"pseudonym": "morning dove"}
    )
    assert response.status_code == 200
    assert "already uses that name" in " ".join(response.context["join_form"].errors["pseudonym"])
    assert 'value="morning dove"' in response.content.decode()
    assert not Enrollment.objects.filter(user=member).exists()


@pytest.mark.parametrize(
    ("pseudonym", "explained"),
    [
        ("A name far longer than the forty characters allowed", "Names can be up to 40 characters"),
        ("www.me.com", "looks like a web address"),
    ],
)
def test_a_refused_name_when_accepting_an_invitation_keeps_what_was_typed(
    client, therapist, member, pseudonym, explained
):
    group = make_group(therapist, is_closed=True, is_listed=False, title="Private group")
    invitation = invitation_send(actor=therapist, group=group, email=member.email)
    accept_guidelines(member)
    client.force_login(member)
    url = reverse("groups:invitation", args=[invitation.token])
    response = client.post(url, {"answer": "accept", "pseudonym": pseudonym})
    assert response.status_code == 200
    assert explained in " ".join(response.context["form"].errors["pseudonym"])
    assert f'value="{pseudonym}"' in response.content.decode()
    assert not Enrollment.objects.exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None


def test_an_invitation_answer_that_is_neither_yes_nor_no_changes_nothing(client, therapist, member):
    group = make_group(therapist, is_closed=True, is_listed=False, title="Private group")
    invitation = invitation_send(actor=therapist, group=group, email=member.email)
    accept_guidelines(member)
    client.force_login(member)
    url = reverse("groups:invitation", args=[invitation.token])
    response = client.post(url, {"answer": "maybe", "pseudonym": "Quiet One"})
    assert response.status_code == 200
    assert "Please choose “Accept and join” or “No, thank you”." in response.content.decode()
    assert not Enrollment.objects.exists()
    invitation.refresh_from_db()
    assert (invitation.accepted_at, invitation.declined_at) == (None, None)


FAR_FUTURE = [
    {"date": "9999-12-31", "start": "23:30", "repeat": "once"},
    {"date": "9999-12-25", "start": "18:00", "repeat": "1", "count": "52"},
]


@pytest.mark.parametrize("data", FAR_FUTURE)
def test_a_date_in_the_far_future_is_explained_when_planning(client, therapist, listed, data):
    client.force_login(therapist)
    before_count = GroupSession.objects.count()
    response = client.post(
        reverse("groups:schedule", args=[listed.slug]),
        {"duration": "60", "room_opens_minutes": "10", **data},
    )
    assert response.status_code == 200
    assert "up to two years ahead" in " ".join(response.context["form"].errors["date"])
    assert 'value="9999-12' in response.content.decode()  # what was typed is kept
    assert GroupSession.objects.count() == before_count


def test_a_date_in_the_far_future_is_explained_when_moving_a_session(client, therapist, listed):
    session = listed.sessions.get()
    client.force_login(therapist)
    response = client.post(
        reverse("groups:session_reschedule", args=[session.pk]),
        {"date": "9999-12-31", "start": "23:30", "duration": "60", "reason": "Later"},
    )
    assert response.status_code == 200
    assert "up to two years ahead" in " ".join(response.context["form"].errors["date"])
    moved = GroupSession.objects.get(pk=session.pk)
    assert (moved.starts_at, moved.sequence) == (session.starts_at, session.sequence)


def test_a_count_out_of_range_gets_one_clear_note(client, therapist, listed):
    client.force_login(therapist)
    day = to_local(timezone.now(), time_zone=listed.time_zone).date() + timedelta(days=10)
    response = client.post(
        reverse("groups:schedule", args=[listed.slug]),
        {
            "date": day.isoformat(),
            "start": "18:00",
            "duration": "60",
            "room_opens_minutes": "10",
            "repeat": "1",
            "count": str(10**20),
        },
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert list(form.errors) == ["count"]
    assert form.non_field_errors() == []
    assert "either the number of sessions" not in response.content.decode()


def test_a_therapist_creates_a_group_and_plans_a_series_through_the_forms(client, therapist):
    client.force_login(therapist)
    response = client.post(
        reverse("groups:create"),
        {
            "title": "Sunday grief circle",
            "topic": TherapyGroup._meta.get_field("topic")
            .related_model.objects.get(slug="grief")
            .pk,
            "kind": "therapy",
            "description": "For people who lost someone.",
            "capacity": "6",
            "language": "en",
            "time_zone": "Europe/London",
            "transcript_retention_days": "14",
            "is_listed": "on",
        },
    )
    assert response.status_code == 302
    group = TherapyGroup.objects.get(title="Sunday grief circle")
    assert group.transcript_retention_days == 14
    schedule_url = reverse("groups:schedule", args=[group.slug])
    assert response["Location"] == schedule_url
    # Four Sundays at 18:00, the last on the day the clocks go forward in London.
    change = spring_forward("Europe/London")
    first = before(change, SUNDAY) - timedelta(weeks=2)

    both = client.post(
        schedule_url,
        {
            "date": first.isoformat(),
            "start": "18:00",
            "duration": "60",
            "room_opens_minutes": "10",
            "repeat": "1",
            "count": "4",
            "until": (first + timedelta(days=25)).isoformat(),
        },
    )
    assert "either the number of sessions or the last date" in both.content.decode()
    too_long = client.post(
        schedule_url,
        {
            "date": first.isoformat(),
            "start": "18:00",
            "duration": "300",
            "room_opens_minutes": "10",
            "repeat": "once",
        },
    )
    assert too_long.status_code == 200
    assert "Select a valid choice" in too_long.content.decode()
    gap = client.post(
        schedule_url,
        {
            "date": change.isoformat(),
            "start": "01:30",
            "duration": "60",
            "room_opens_minutes": "10",
            "repeat": "once",
        },
    )
    assert "clocks go forward" in gap.content.decode()
    assert not group.sessions.exists()

    response = client.post(
        schedule_url,
        {
            "date": first.isoformat(),
            "start": "18:00",
            "duration": "60",
            "room_opens_minutes": "10",
            "repeat": "1",
            "count": "4",
        },
    )
    assert response.status_code == 302
    assert [
        to_local(s.starts_at, time_zone="Europe/London").strftime("%d %H:%M")
        for s in group.sessions.all()
    ] == [f"{first + timedelta(weeks=week):%d} 18:00" for week in range(4)]
    assert [s.starts_at.hour for s in group.sessions.all()] == [18, 18, 18, 17]


def test_a_client_cannot_create_a_therapy_group(client, member):
    client.force_login(member)
    response = client.post(
        reverse("groups:create"),
        {
            "title": "Mine",
            "topic": 1,
            "kind": "therapy",
            "description": "x",
            "capacity": "5",
            "language": "en",
            "time_zone": "UTC",
            "transcript_retention_days": "30",
        },
    )
    assert response.status_code == 200
    assert "verified therapists" in response.content.decode()
    assert not TherapyGroup.objects.exists()


EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def test_the_facilitator_runs_the_roster_from_the_manage_page(client, therapist, listed):
    listed.capacity = 2
    listed.save(update_fields=["capacity"])
    first, second = make_member(listed), make_member(listed)
    waiting = make_member(listed)
    assert waiting.state == Enrollment.State.WAITLISTED
    client.force_login(therapist)
    page = client.get(reverse("groups:manage", args=[listed.slug])).content.decode()
    for enrollment in (first, second, waiting):
        assert enrollment.pseudonym in page
        assert enrollment.user.email not in page  # emails are for staff, in the admin
    assert EMAIL_ADDRESS.findall(page) == []
    response = client.post(
        reverse("groups:member_remove", args=[listed.slug, first.pk]), {"reason": ""}, follow=True
    )
    assert "Please note a short reason" in response.content.decode()
    client.post(
        reverse("groups:member_remove", args=[listed.slug, first.pk]), {"reason": "Asked to leave"}
    )
    first.refresh_from_db()
    assert first.state == "removed"


def test_a_staff_member_who_facilitates_sees_pseudonyms_but_no_emails_on_the_manage_page(client):
    staff_therapist = UserFactory(roles=[Role.THERAPIST, Role.STAFF])
    add_totp(staff_therapist)
    group = make_group(staff_therapist, capacity=2)
    enrollments = [make_member(group) for _ in range(3)]
    client.force_login(staff_therapist)
    page = client.get(reverse("groups:manage", args=[group.slug])).content.decode()
    for enrollment in enrollments:
        assert enrollment.pseudonym in page
        assert enrollment.user.email not in page
    assert EMAIL_ADDRESS.findall(page) == []


def test_the_manage_page_reads_names_not_the_facilitators_account(client, therapist, listed):
    """The page prints the topic's and facilitator's names: its reads ask for those, never
    for the facilitator's account row (password hash, email address)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(therapist)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(reverse("groups:manage", args=[listed.slug])).content.decode()
    assert listed.topic.name in page
    assert therapist.display_name in page
    group_reads = [q["sql"] for q in queries if q["sql"].startswith('SELECT "groups_therapygroup"')]
    assert group_reads
    for sql in group_reads:
        assert '"password"' not in sql and '"email"' not in sql, sql


def test_staff_see_who_is_behind_a_per_group_name_in_the_admin(client, staff_user, listed):
    enrollment = make_member(listed)
    client.force_login(staff_user)
    changelist = client.get(reverse("admin:groups_enrollment_changelist")).content.decode()
    assert enrollment.pseudonym in changelist
    assert enrollment.user.email in changelist
    detail = client.get(reverse("admin:groups_enrollment_change", args=[enrollment.pk]))
    assert detail.status_code == 200
    assert enrollment.user.email in detail.content.decode()


def test_the_facilitator_moves_and_cancels_a_session(client, therapist, listed):
    session = listed.sessions.first()
    client.force_login(therapist)
    url = reverse("groups:session_reschedule", args=[session.pk])
    form = client.get(url).context["form"]
    data = dict(form.initial.items())
    data.update(date=str(data["date"]), start="20:00", duration=str(data["duration"]), reason="")
    assert "This field is required" in client.post(url, data).content.decode()
    data["reason"] = "Later start"
    assert client.post(url, data).status_code == 302
    session.refresh_from_db()
    assert to_local(session.starts_at, time_zone=listed.time_zone).hour == 20
    cancel = reverse("groups:session_cancel", args=[session.pk])
    assert client.post(cancel, {"reason": "Unwell"}).status_code == 302
    session.refresh_from_db()
    assert session.cancelled_at is not None


def test_an_invitee_accepts_through_the_invitation_page(client, therapist, member):
    group = make_group(therapist, is_closed=True, is_listed=False, title="Private group")
    make_session(group, days_ahead=5)
    invitation = invitation_send(actor=therapist, group=group, email=member.email)
    accept_guidelines(member)
    client.force_login(member)
    assert "Private group" in client.get(reverse("groups:my_schedule")).content.decode()
    url = reverse("groups:invitation", args=[invitation.token])
    assert client.get(url).status_code == 200
    response = client.post(url, {"answer": "accept", "pseudonym": "Quiet One"})
    assert response.status_code == 302
    assert Enrollment.objects.get(user=member, group=group).pseudonym == "Quiet One"


def test_my_schedule_shows_times_in_my_zone(client, therapist, member):
    group = make_group(therapist, time_zone="Europe/London")
    session = make_session(group, days_ahead=6, hour=18)
    make_member(group, member)
    member.time_zone = "America/New_York"
    member.save(update_fields=["time_zone"])
    client.force_login(member)
    page = client.get(reverse("groups:my_schedule")).content.decode()
    expected = to_local(session.starts_at, time_zone="America/New_York").strftime("%H:%M")
    assert expected in page
    assert "America/New_York" in page


def test_a_session_whose_room_is_open_is_marked_open_in_my_schedule(client, therapist, member):
    group = make_group(therapist)
    session = make_session(group, days_ahead=1)
    make_member(group, member)
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=timezone.now() + timedelta(minutes=5),
        ends_at=timezone.now() + timedelta(minutes=65),
    )
    client.force_login(member)
    sessions = client.get(reverse("groups:my_schedule")).context["sessions"]
    assert [s.room_is_open for s in sessions] == [True]


def test_an_expired_invitation_says_so_and_cannot_be_accepted(client, therapist, member):
    group = make_group(therapist, is_closed=True, is_listed=False, title="Private group")
    invitation = invitation_send(actor=therapist, group=group, email=member.email)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    accept_guidelines(member)
    client.force_login(member)
    url = reverse("groups:invitation", args=[invitation.token])
    page = client.get(url).content.decode()
    assert "This invitation has expired" in page
    assert 'value="accept"' not in page
    response = client.post(url, {"answer": "accept"}, follow=True)
    assert "no longer open" in response.content.decode()
    assert not Enrollment.objects.filter(user=member).exists()


def test_a_one_off_session_has_no_rest_of_series_choice(client, therapist, listed):
    session = listed.sessions.first()
    assert session.series_id is None
    client.force_login(therapist)
    for name in ("groups:session_cancel", "groups:session_reschedule"):
        form = client.get(reverse(name, args=[session.pk])).context["form"]
        assert "rest_of_series" not in form.fields


def test_only_people_who_can_lead_see_groups_i_lead(client, member, therapist):
    client.force_login(member)
    assert "Groups I lead" not in client.get(reverse("home")).content.decode()
    client.force_login(therapist)
    assert "Groups I lead" in client.get(reverse("home")).content.decode()
