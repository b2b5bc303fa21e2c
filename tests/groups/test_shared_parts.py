"""The parts of logged-in pages kept in the cache for everyone (the directory's list, a group's
details) never carry one person's things to another, and never outlive a change."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from groups import services
from groups.models import Enrollment, Invitation, Topic
from groups.selectors import GroupLink, WaitingPlace
from tests.factories import UserFactory, make_group, make_member, make_session

pytestmark = pytest.mark.django_db


def page_of(user, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


@pytest.fixture
def group(therapist):
    group = make_group(therapist, title="Evening calm")
    make_session(group, days_ahead=3)
    return group


def test_two_members_each_see_only_their_own_name_on_a_group_page(group):
    first, second = UserFactory(), UserFactory()
    make_member(group, first, pseudonym="Blue Heron")
    make_member(group, second, pseudonym="Red Kite")
    url = reverse("groups:detail", args=[group.slug])

    first_page = page_of(first, url)
    second_page = page_of(second, url)  # the details come from the cache now

    assert "Blue Heron" in first_page and "Red Kite" not in first_page
    assert "Red Kite" in second_page and "Blue Heron" not in second_page
    assert "Evening calm" in second_page


def test_calendar_links_shown_to_a_member_are_not_shown_to_someone_who_is_not_one(
    group, member, outsider
):
    make_member(group, member)
    url = reverse("groups:detail", args=[group.slug])

    assert "Add to my calendar" in page_of(member, url)
    assert "Add to my calendar" not in page_of(outsider, url)
    assert "Add to my calendar" in page_of(member, url)


def test_a_new_session_shows_on_a_members_group_page_at_once(group, member):
    make_member(group, member)
    url = reverse("groups:detail", args=[group.slug])
    before = page_of(member, url)

    make_session(group, days_ahead=5, hour=9)

    after = page_of(member, url)
    assert before.count('class="session-item"') == 1
    assert after.count('class="session-item"') == 2


def test_a_group_page_shows_the_places_left_after_someone_joins(group, member, outsider):
    url = reverse("groups:detail", args=[group.slug])
    assert "8 places left" in page_of(outsider, url)

    make_member(group, member)

    assert "7 places left" in page_of(outsider, url)


def test_members_in_different_time_zones_each_see_their_own_zone(group):
    london = UserFactory(time_zone="Europe/London")
    tokyo = UserFactory(time_zone="Asia/Tokyo")
    make_member(group, london)
    make_member(group, tokyo)
    url = reverse("groups:detail", args=[group.slug])

    assert "Times are shown in Europe/London." in page_of(london, url)
    assert "Times are shown in Asia/Tokyo." in page_of(tokyo, url)


def test_an_unlisted_group_stays_hidden_from_outsiders_after_a_member_saw_it(
    therapist, member, outsider
):
    hidden = make_group(therapist, title="Quiet circle", is_listed=False)
    make_member(hidden, member)
    url = reverse("groups:detail", args=[hidden.slug])
    assert "Quiet circle" in page_of(member, url)

    client = Client()
    client.force_login(outsider)
    assert client.get(url).status_code == 404


@pytest.fixture
def peer_group(peer_supervisor):
    return make_group(
        peer_supervisor,
        title="Case consultation",
        kind="peer_supervision",
        topic=Topic.objects.get(slug="clinical-practice"),
    )


def test_the_directory_a_therapist_sees_is_not_shown_to_a_client(
    peer_group, group, therapist, member
):
    directory = reverse("groups:directory")
    assert "Case consultation" in page_of(therapist, directory)

    page = page_of(member, directory)

    assert "Case consultation" not in page
    assert "Evening calm" in page


def test_a_client_in_a_listed_peer_supervision_group_sees_it_after_another_client_looked(
    peer_group, group, member, outsider
):
    Enrollment.objects.create(group=peer_group, user=member, state="active", pseudonym="Guest")
    directory = reverse("groups:directory")
    assert "Case consultation" not in page_of(outsider, directory)

    assert "Case consultation" in page_of(member, directory)
    assert "Case consultation" not in page_of(outsider, directory)


@pytest.mark.parametrize("addressed", ["to the person", "to their email", "to their Email"])
def test_a_client_invited_to_a_listed_peer_supervision_group_sees_it(
    peer_group, group, member, outsider, peer_supervisor, addressed
):
    directory = reverse("groups:directory")
    assert "Case consultation" not in page_of(member, directory)
    email = member.email.upper() if addressed == "to their Email" else member.email
    Invitation.objects.create(
        group=peer_group,
        invitee=member if addressed == "to the person" else None,
        email=email,
        invited_by=peer_supervisor,
    )

    assert "Case consultation" in page_of(member, directory)
    assert "Case consultation" not in page_of(outsider, directory)


def test_a_client_waiting_for_a_place_in_a_peer_supervision_group_sees_it(
    peer_group, group, member, outsider
):
    Enrollment.objects.create(
        group=peer_group, user=member, state="waitlisted", pseudonym="Guest", waitlist_position=1
    )
    directory = reverse("groups:directory")

    assert "Case consultation" in page_of(member, directory)
    assert "Case consultation" not in page_of(outsider, directory)


def test_a_renamed_group_shows_in_a_members_directory_at_once(group, therapist, member):
    directory = reverse("groups:directory")
    assert "Morning calm" not in page_of(member, directory)

    services.group_update(actor=therapist, group=group, title="Morning calm")

    assert "Morning calm" in page_of(member, directory)


# --- Rows rendered once per distinct content (config/fragments.py) ----------------------------


def test_a_cancelled_session_shows_as_cancelled_on_my_schedule_at_once(group, therapist, member):
    make_member(group, member)
    session = group.sessions.get()
    url = reverse("groups:my_schedule")
    assert "Cancelled" not in page_of(member, url)

    services.session_cancel(actor=therapist, session=session, reason="The facilitator is unwell.")

    page = page_of(member, url)
    assert "Cancelled" in page and "The facilitator is unwell." in page


def test_each_member_sees_their_own_time_zone_on_my_schedule(group):
    london = UserFactory(time_zone="Europe/London")
    tokyo = UserFactory(time_zone="Asia/Tokyo")
    make_member(group, london)
    make_member(group, tokyo)
    session = group.sessions.get()
    url = reverse("groups:my_schedule")

    for person, zone in ((london, "Europe/London"), (tokyo, "Asia/Tokyo")):
        local = session.starts_at.astimezone(ZoneInfo(zone)).isoformat()
        assert f'datetime="{local}"' in page_of(person, url)


def test_a_row_refuses_a_model_instance(group):
    """Checked when the row's HTML is first made: such a row is never remembered."""
    from config.fragments import render_row

    row = GroupLink(title=group, slug=group.slug)
    with pytest.raises(TypeError):
        render_row("groups/_schedule_session.html", row)
    with pytest.raises(TypeError):  # again: nothing was kept the first time
        render_row("groups/_schedule_session.html", row)


def test_a_new_co_facilitator_shows_on_a_members_group_page_at_once(group, therapist, member):
    from accounts.roles import Role

    make_member(group, member)
    url = reverse("groups:detail", args=[group.slug])
    colleague = UserFactory(display_name="Quiet Willow", roles=[Role.THERAPIST])
    assert "Quiet Willow" not in page_of(member, url)

    services.co_facilitator_add(actor=therapist, group=group, user=colleague)

    assert "Quiet Willow" in page_of(member, url)
    services.co_facilitator_remove(actor=therapist, group=group, user=colleague)
    assert "Quiet Willow" not in page_of(member, url)


def test_equal_rows_are_made_once_and_rows_of_another_type_apart(monkeypatch):
    from dataclasses import dataclass

    from config import fragments

    @dataclass(frozen=True)
    class OtherLink(fragments.Row):
        title: str
        slug: str

    made: list[object] = []
    real = fragments.render_to_string

    def counting(template_name, context):
        made.append(context["row"])
        return real(template_name, context)

    monkeypatch.setattr(fragments, "render_to_string", counting)
    fragments._kept.clear()
    template = "groups/_schedule_waiting.html"
    one, same, other = (
        GroupLink("Calm", "calm"),
        GroupLink("Calm", "calm"),
        OtherLink("Calm", "calm"),
    )
    first = fragments.render_row(template, WaitingPlace(group=one, place=2))
    assert fragments.render_row(template, WaitingPlace(group=same, place=2)) == first
    assert len(made) == 1
    fragments.render_row(template, WaitingPlace(group=one, place=3))
    fragments.render_row(
        template, WaitingPlace(group=other, place=2)
    )  # equal values, not a GroupLink
    assert len(made) == 3
