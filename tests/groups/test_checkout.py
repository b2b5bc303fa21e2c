"""Check-out: after a session each member may say how it was, once (changeable for a day);
the group's facilitators read the answers (recorded), each member only their own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.urls import reverse
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.roles import Role
from groups.models import CHECKOUT_WORDS_MAX, CheckOut, GroupSession
from groups.services import checkout_answer, checkouts_open
from moderation.models import AuditAction, AuditEvent
from moderation.retention import checkouts_purge
from tests.factories import UserFactory, add_totp, make_group, make_member, make_session

pytestmark = pytest.mark.django_db


def _ended(session: GroupSession, *, ago: timedelta) -> GroupSession:
    ends = timezone.now() - ago
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=ends - timedelta(hours=1), ends_at=ends
    )
    session.refresh_from_db()
    return session


@pytest.fixture
def scene(therapist):
    group = make_group(therapist, title="Tuesday circle")
    alice, bob = make_member(group), make_member(group)
    session = _ended(make_session(group, days_ahead=3), ago=timedelta(minutes=10))
    return {"group": group, "session": session, "alice": alice, "bob": bob}


def answer(user, session, feeling=4, words=""):
    return checkout_answer(
        actor=user, session=session, feeling=feeling, words=words, now=timezone.now()
    )


def test_a_member_answers_after_the_session_and_may_change_their_answer(client, scene):
    session, alice = scene["session"], scene["alice"].user
    client.force_login(alice)
    url = reverse("groups:checkout", args=[session.pk])
    page = client.get(url).content.decode()
    assert "How was today for you?" in page and "Save my answer" in page

    assert client.post(url, {"feeling": "2", "words": "Hard, but I felt heard"})["Location"] == url
    assert client.post(url, {"feeling": "4", "words": "Better after all"})["Location"] == url

    [stored] = CheckOut.objects.all()
    assert (stored.user, stored.session, stored.feeling, stored.words) == (
        alice,
        session,
        4,
        "Better after all",
    )
    page = client.get(url).content.decode()
    assert "Better after all" in page and "Change my answer" in page


def test_the_database_keeps_one_answer_per_person_and_session(scene):
    answer(scene["alice"].user, scene["session"])
    with pytest.raises(IntegrityError):
        CheckOut.objects.create(session=scene["session"], user=scene["alice"].user, feeling=3)


def test_check_out_opens_at_the_end_and_closes_a_day_later(client, scene, therapist):
    alice = scene["alice"].user
    coming = make_session(scene["group"], days_ahead=5)
    with pytest.raises(ServiceError) as early:
        answer(alice, coming)
    assert early.value.code == "too_early"
    client.force_login(alice)
    page = client.get(reverse("groups:checkout", args=[coming.pk])).content.decode()
    assert "when the session has ended" in page and "<form" not in page.split("<main", 1)[-1]

    old = scene["session"]
    answer(alice, old, feeling=3, words="Mixed")
    _ended(old, ago=timedelta(hours=25))
    with pytest.raises(ServiceError) as late:
        answer(alice, old, feeling=5)
    assert late.value.code == "closed"
    page = client.get(reverse("groups:checkout", args=[old.pk])).content.decode()
    assert "Mixed" in page and "has closed" in page
    assert CheckOut.objects.get().feeling == 3


def test_a_cancelled_session_has_no_check_out(client, scene, therapist):
    from groups.services import session_cancel

    coming = make_session(scene["group"], days_ahead=5)
    session_cancel(actor=therapist, session=coming, reason="The facilitator is unwell")
    coming.refresh_from_db()
    with pytest.raises(ServiceError) as refused:
        answer(scene["alice"].user, coming)
    assert refused.value.code == "cancelled"
    client.force_login(scene["alice"].user)
    page = client.get(reverse("groups:checkout", args=[coming.pk])).content.decode()
    assert "was cancelled" in page


def test_a_session_the_facilitator_ended_early_opens_its_check_out_at_once(scene, therapist):
    from groups.services import session_end

    session = make_session(scene["group"], days_ahead=4)
    now = timezone.now()
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(minutes=30)
    )
    session.refresh_from_db()
    with pytest.raises(ServiceError):
        answer(scene["alice"].user, session)
    session = session_end(actor=therapist, session=session)
    assert answer(scene["alice"].user, session).feeling == 4


@pytest.mark.parametrize("feeling", [0, 6, "3", True, None, 2.5])
def test_a_feeling_off_the_scale_is_refused_kindly(scene, feeling):
    with pytest.raises(ServiceError) as refused:
        answer(scene["alice"].user, scene["session"], feeling=feeling)
    assert refused.value.code == "feeling"


def test_words_over_the_limit_are_refused_and_shown_again(client, scene):
    with pytest.raises(ServiceError) as refused:
        answer(scene["alice"].user, scene["session"], words="x" * (CHECKOUT_WORDS_MAX + 1))
    assert refused.value.code == "too_long"
    client.force_login(scene["alice"].user)
    url = reverse("groups:checkout", args=[scene["session"].pk])
    response = client.post(url, {"feeling": "9", "words": "y" * (CHECKOUT_WORDS_MAX + 5)})
    page = response.content.decode()
    assert response.status_code == 200
    assert f"up to {CHECKOUT_WORDS_MAX}" in page and "y" * (CHECKOUT_WORDS_MAX + 5) in page
    assert not CheckOut.objects.exists()


def test_only_the_groups_active_members_reach_the_check_out(client, scene, therapist, outsider):
    session = scene["session"]
    other_group = make_group(therapist, title="Another circle")
    stranger = make_member(other_group).user
    url = reverse("groups:checkout", args=[session.pk])
    for person in (outsider, therapist, stranger):
        client.force_login(person)
        assert client.get(url).status_code == 404
        assert client.post(url, {"feeling": "3"}).status_code == 404
        with pytest.raises(ServiceError):
            answer(person, session)
    assert not CheckOut.objects.exists()


def test_a_member_sees_only_their_own_answer(client, scene):
    session = scene["session"]
    answer(scene["alice"].user, session, feeling=5, words="Alice felt seen")
    answer(scene["bob"].user, session, feeling=1, words="Bob had a bad day")
    client.force_login(scene["alice"].user)
    page = client.get(reverse("groups:checkout", args=[session.pk])).content.decode()
    assert "Alice felt seen" in page and "Bob had a bad day" not in page
    schedule = client.get(reverse("groups:my_schedule")).content.decode()
    assert reverse("groups:checkout", args=[session.pk]) in schedule
    assert "5 of 5" in schedule and "Bob" not in schedule


def test_my_schedule_offers_the_check_out_only_while_it_is_open(client, scene):
    session = scene["session"]
    client.force_login(scene["alice"].user)
    url = reverse("groups:checkout", args=[session.pk])
    assert url in client.get(reverse("groups:my_schedule")).content.decode()
    _ended(session, ago=timedelta(hours=25))
    assert url not in client.get(reverse("groups:my_schedule")).content.decode()


def test_facilitators_see_the_answers_by_session_with_the_average_and_the_words(
    client, scene, therapist
):
    group, session = scene["group"], scene["session"]
    answer(scene["alice"].user, session, feeling=5, words="Alice felt seen")
    answer(scene["bob"].user, session, feeling=2, words="Bob had a bad day")
    earlier = _ended(make_session(group, days_ahead=6), ago=timedelta(days=7))
    client.force_login(therapist)

    response = client.get(reverse("groups:group_checkouts", args=[group.slug]))

    page = response.content.decode()
    entries = response.context["sessions"]
    assert [entry.session for entry in entries] == [session, earlier]
    assert [entry.average for entry in entries] == [3.5, None]
    assert "Alice felt seen" in page and "Bob had a bad day" in page
    assert scene["alice"].pseudonym in page and scene["alice"].user.email not in page
    [read] = AuditEvent.objects.filter(action=AuditAction.CHECKOUTS_READ)
    assert (read.actor, read.group_id, read.details) == (therapist, group.pk, {"answers": 2})
    manage = client.get(reverse("groups:manage", args=[group.slug])).content.decode()
    checkouts_url = reverse("groups:group_checkouts", args=[group.slug])
    assert f"{checkouts_url}#session-{session.pk}" in manage


def test_members_outsiders_and_other_groups_facilitators_do_not_see_the_answers(
    client, scene, outsider
):
    answer(scene["alice"].user, scene["session"], words="Alice felt seen")
    other = UserFactory(roles=[Role.THERAPIST])
    add_totp(other)
    make_group(other, title="Another circle")
    url = reverse("groups:group_checkouts", args=[scene["group"].slug])
    for person in (scene["alice"].user, outsider, other):
        client.force_login(person)
        assert client.get(url).status_code == 404
        with pytest.raises(ServiceError):
            checkouts_open(actor=person, group=scene["group"], now=timezone.now())
    assert not AuditEvent.objects.filter(action=AuditAction.CHECKOUTS_READ).exists()


def test_answers_of_sessions_past_the_groups_retention_are_deleted(scene):
    group = scene["group"]
    old = make_session(group, days_ahead=5)
    GroupSession.objects.filter(pk=old.pk).update(
        starts_at=timezone.now() - timedelta(days=31, hours=1),
        ends_at=timezone.now() - timedelta(days=31),
    )
    CheckOut.objects.create(session=old, user=scene["alice"].user, feeling=2, words="Old")
    kept = answer(scene["alice"].user, scene["session"])
    assert checkouts_purge() == 1
    assert list(CheckOut.objects.all()) == [kept]
    [purged] = AuditEvent.objects.filter(action=AuditAction.CHECKOUTS_PURGED)
    assert purged.details == {"checkouts": 1, "retention_days": 30}
    assert checkouts_purge() == 0


def test_the_daily_purge_deletes_expired_answers_too(scene):
    from moderation.tasks import purge_transcripts

    answer(scene["alice"].user, scene["session"])
    _ended(scene["session"], ago=timedelta(days=40))
    purge_transcripts()
    assert not CheckOut.objects.exists()
