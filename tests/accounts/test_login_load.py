"""A logged-in request loads the person, their privileges, whether they have a second factor
and where they stand with the guidelines in one query (accounts.backends), and finds exactly
what the separate reads find; nothing of it outlives the request."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from guardian.shortcuts import assign_perm

from accounts.backends import login_person_load
from accounts.models import GUIDELINES_STANDING, PRIVILEGES, SECOND_FACTOR, User
from accounts.policy import _with_second_factor, privileges_load
from accounts.roles import Role
from accounts.selectors import guidelines_current, guidelines_standing
from accounts.services import guidelines_accept, guidelines_publish
from groups import rights
from tests.factories import GuidelinesVersionFactory, UserFactory, add_totp, make_group

pytestmark = pytest.mark.django_db


def separately(user: User) -> tuple:
    """What the separate reads say about ``user``, on an instance of its own."""
    fresh = User.objects.get(pk=user.pk)
    privileges_load([fresh])
    return (
        getattr(fresh, PRIVILEGES),
        fresh.pk in _with_second_factor([fresh]),
        guidelines_standing(user=fresh),
    )


def loaded(user: User) -> tuple:
    person = login_person_load(user.pk)
    assert person is not None
    fresh = User.objects.get(pk=user.pk)
    for field in User._meta.concrete_fields:
        assert getattr(person, field.attname) == getattr(fresh, field.attname), field.name
    assert not person._state.adding and person._state.db == "default"
    return (
        getattr(person, PRIVILEGES),
        getattr(person, SECOND_FACTOR),
        getattr(person, GUIDELINES_STANDING),
    )


def test_the_login_query_finds_what_the_separate_reads_find(
    member, therapist, peer_supervisor, staff_user, superuser
):
    without_mfa = UserFactory(display_name="Not Yet", roles=[Role.THERAPIST])
    facilitator = UserFactory(display_name="Co Chair")  # an object right and no role
    rights.grant(user=facilitator, group=make_group(therapist))
    guardian_holder = UserFactory(display_name="Guardian Holder")  # guardian's generic table
    assign_perm("groups.facilitate_group", guardian_holder, make_group(therapist, title="Other"))
    add_totp(guardian_holder)
    accepted, updated = UserFactory(display_name="Agreed"), UserFactory(display_name="Earlier")
    guidelines_accept(actor=accepted, version=guidelines_current())
    guidelines_accept(actor=updated, version=guidelines_current())
    guidelines_publish(actor=staff_user, version=GuidelinesVersionFactory(version=2))
    guidelines_accept(actor=accepted, version=guidelines_current())
    people = [
        member,
        therapist,
        without_mfa,
        peer_supervisor,
        staff_user,
        superuser,
        facilitator,
        guardian_holder,
        accepted,
        updated,
    ]
    found = {person.pk: loaded(person) for person in people}

    assert found == {person.pk: separately(person) for person in people}
    assert found[therapist.pk] == ((frozenset({Role.THERAPIST}), True), True, "first")
    assert found[without_mfa.pk] == ((frozenset({Role.THERAPIST}), False), False, "first")
    assert found[facilitator.pk][0] == (frozenset(), True)
    assert found[guardian_holder.pk][0] == (frozenset(), True)
    assert found[accepted.pk][2] == "accepted" and found[updated.pk][2] == "update"


def test_no_person_for_an_id_that_names_nobody(member):
    assert login_person_load(member.pk + 1000) is None
    assert login_person_load("not a number") is None


def test_a_logged_in_page_asks_the_database_once_for_the_person_and_all_they_need(
    client, therapist
):
    client.force_login(therapist)
    assert client.get(reverse("home")).status_code == 200  # records the device's activity
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("ping")).status_code == 200
    # The person listed for the session with everything the policy and the page need, and the
    # session's row, in one statement (accounts.session_store).
    assert len(captured) == 1, [q["sql"][:80] for q in captured]


def test_a_page_that_shows_the_guidelines_notice_asks_nothing_more(client, member):
    client.force_login(member)
    client.get(reverse("help"))
    with CaptureQueriesContext(connection) as captured:
        page = client.get(reverse("help")).content.decode()
    assert "please read our guidelines and agree" in page
    about_them = ("accounts_user", "auth_group", "guidelines", "mfa_")
    asking = [q["sql"] for q in captured if any(table in q["sql"] for table in about_them)]
    assert len(asking) == 1, asking  # the login's own statement


def test_what_changes_between_requests_shows_on_the_next_one(client, member, therapist):
    client.force_login(member)
    assert "please read our guidelines" in client.get(reverse("help")).content.decode()
    guidelines_accept(actor=member, version=guidelines_current())
    assert "please read our guidelines" not in client.get(reverse("help")).content.decode()
    rights.grant(user=member, group=make_group(therapist))  # now they must use two-step login
    response = client.get(reverse("help"))  # allowed before two-step login: not redirected
    assert response.status_code == 200
    response = client.get(reverse("accounts:profile"))
    assert response["Location"] == reverse("mfa_activate_totp")
    add_totp(member)
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_accepting_the_guidelines_shows_at_once_on_the_same_instance(member):
    person = login_person_load(member.pk)
    assert person is not None and guidelines_standing(user=person) == "first"
    guidelines_accept(actor=person, version=guidelines_current())
    assert guidelines_standing(user=person) == "accepted"


# --- The person read with the session (accounts.session_store) ----------------------------------


def test_the_session_names_the_person_whatever_the_device_list_says(client, member, outsider):
    """The person read with the session comes from allauth's device list; the backend takes
    them only if the session itself names them."""
    from allauth.usersessions.models import UserSession

    client.force_login(member)
    client.get(reverse("home"))  # records the device (a login through allauth's form does too)
    key = client.session.session_key
    assert UserSession.objects.filter(session_key=key, user=member).exists()
    UserSession.objects.filter(session_key=key).update(user=outsider)
    response = client.get(reverse("ping"))
    assert response.wsgi_request.user.pk == member.pk


def test_a_login_missing_from_the_device_list_is_read_as_before(client, member):
    from allauth.usersessions.models import UserSession

    client.force_login(member)
    client.get(reverse("home"))  # records the device's activity
    UserSession.objects.filter(user=member).delete()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("ping"))
    assert response.wsgi_request.user.pk == member.pk
    assert len(captured) == 3  # the listed person (none), the session, the person


def test_an_ended_login_still_in_the_device_list_is_no_login(client, member):
    from django.contrib.sessions.models import Session

    client.force_login(member)
    Session.objects.filter(session_key=client.session.session_key).delete()
    response = client.get(reverse("ping"))
    assert not response.wsgi_request.user.is_authenticated


def test_the_person_read_with_a_session_serves_that_request_only(client, member, outsider):
    """Left for the request's own look-up, taken by it, and never by a later one."""
    from accounts.backends import _read_with_the_session

    client.force_login(member)
    client.get(reverse("ping"))
    assert _read_with_the_session.get() is None
    assert login_person_load(outsider.pk).pk == outsider.pk
