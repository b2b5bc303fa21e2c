"""Facilitators' private notes: for the group's facilitators only, every read recorded, and
deleted with the transcripts when the group's retention has passed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.exceptions import ServiceError
from accounts.roles import Role
from groups.models import GroupSession, SessionNote
from groups.services import co_facilitator_add, note_create, note_update, notes_open
from moderation.models import AuditAction, AuditEvent
from moderation.retention import notes_purge
from tests.factories import UserFactory, add_totp, make_group, make_member, make_session

pytestmark = pytest.mark.django_db

SECRET = "Mentioned losing her job"


@pytest.fixture
def scene(therapist):
    group = make_group(therapist, title="Tuesday circle")
    enrollment = make_member(group)
    session = make_session(group, days_ahead=3)
    return {"group": group, "session": session, "enrollment": enrollment}


def _urls(scene, note: SessionNote) -> list[str]:
    session, enrollment = scene["session"], scene["enrollment"]
    return [
        reverse("groups:session_notes", args=[session.pk]),
        reverse("groups:member_notes", args=[session.pk, enrollment.pk]),
        reverse("groups:note_edit", args=[note.pk]),
    ]


def _ended(session: GroupSession, *, days_ago: int) -> GroupSession:
    ends = timezone.now() - timedelta(days=days_ago)
    GroupSession.objects.filter(pk=session.pk).update(
        starts_at=ends - timedelta(hours=1), ends_at=ends
    )
    session.refresh_from_db()
    return session


def test_a_facilitator_writes_notes_on_the_session_and_on_a_member_and_reads_them(
    client, scene, therapist
):
    session, enrollment = scene["session"], scene["enrollment"]
    client.force_login(therapist)
    notes_url = reverse("groups:session_notes", args=[session.pk])
    response = client.post(notes_url, {"body": "Good energy, two new members."})
    assert response["Location"] == notes_url
    member_url = reverse("groups:member_notes", args=[session.pk, enrollment.pk])
    assert client.post(member_url, {"body": SECRET})["Location"] == notes_url
    page = client.get(notes_url).content.decode()
    assert "Good energy" in page and SECRET in page
    assert enrollment.pseudonym in page
    member_page = client.get(member_url).content.decode()
    assert SECRET in member_page and "Good energy" not in member_page
    on_member = SessionNote.objects.get(subject=enrollment.user)
    assert (on_member.session, on_member.author, on_member.body) == (session, therapist, SECRET)


def test_writing_and_every_read_of_notes_is_recorded_with_ids_only(client, scene, therapist):
    session, enrollment = scene["session"], scene["enrollment"]
    note = note_create(actor=therapist, session=session, subject=enrollment.user, body=SECRET)
    client.force_login(therapist)
    client.get(reverse("groups:session_notes", args=[session.pk]))
    client.get(reverse("groups:session_notes", args=[session.pk]))
    client.get(reverse("groups:member_notes", args=[session.pk, enrollment.pk]))
    [created] = AuditEvent.objects.filter(action=AuditAction.NOTE_CREATED)
    assert (created.actor, created.target_id, created.session_id) == (
        therapist,
        str(note.pk),
        session.pk,
    )
    assert created.details == {"subject": enrollment.user_id}
    reads = list(AuditEvent.objects.filter(action=AuditAction.NOTES_READ).order_by("id"))
    assert [(r.actor, r.session_id, r.group_id) for r in reads] == [
        (therapist, session.pk, scene["group"].pk)
    ] * 3
    assert reads[-1].details == {"notes": 1, "subject": enrollment.user_id}
    assert all(SECRET not in str(e.details) for e in AuditEvent.objects.all())


def test_a_member_another_groups_facilitator_staff_and_an_outsider_get_404(
    client, scene, therapist, peer_supervisor, staff_user, outsider
):
    note = note_create(actor=therapist, session=scene["session"], body=SECRET)
    make_group(peer_supervisor, kind="peer_supervision", title="Their own group")
    for person in (scene["enrollment"].user, peer_supervisor, staff_user, outsider):
        client.force_login(person)
        for url in _urls(scene, note):
            for response in (client.get(url), client.post(url, {"body": "sneaky"})):
                assert response.status_code == 404, (person, url)
                assert SECRET not in response.content.decode()
        with pytest.raises(ServiceError) as refused:
            notes_open(actor=person, session=scene["session"])
        assert refused.value.code == "forbidden"
        with pytest.raises(ServiceError):
            note_create(actor=person, session=scene["session"], body="sneaky")
    assert list(SessionNote.objects.values_list("body", flat=True)) == [SECRET]
    assert not AuditEvent.objects.filter(action=AuditAction.NOTES_READ).exists()


def test_a_co_facilitator_reads_the_notes_but_changes_only_their_own(client, scene, therapist):
    colleague = UserFactory(roles=[Role.THERAPIST])
    add_totp(colleague)
    co_facilitator_add(actor=therapist, group=scene["group"], user=colleague)
    note = note_create(actor=therapist, session=scene["session"], body=SECRET)
    client.force_login(colleague)
    assert (
        SECRET
        in client.get(reverse("groups:session_notes", args=[scene["session"].pk])).content.decode()
    )
    assert client.get(reverse("groups:note_edit", args=[note.pk])).status_code == 404
    with pytest.raises(ServiceError) as refused:
        note_update(actor=colleague, note=note, body="Rewritten")
    assert refused.value.code == "not_author"
    client.force_login(therapist)
    edit = reverse("groups:note_edit", args=[note.pk])
    assert SECRET in client.get(edit).content.decode()
    client.post(edit, {"body": "Rewritten by the author"})
    note.refresh_from_db()
    assert note.body == "Rewritten by the author"
    assert AuditEvent.objects.filter(action=AuditAction.NOTE_UPDATED, actor=therapist).count() == 1


def test_a_note_on_someone_outside_the_group_or_waiting_is_refused(scene, therapist, outsider):
    waiting_group = make_group(therapist, title="Tiny group", capacity=2)
    make_member(waiting_group)
    make_member(waiting_group)
    waiting = make_member(waiting_group).user
    for person in (outsider, waiting):
        with pytest.raises(ServiceError) as refused:
            note_create(actor=therapist, session=scene["session"], subject=person, body="x")
        assert refused.value.code == "not_a_member"
    assert not SessionNote.objects.exists()


def test_an_empty_or_overlong_note_is_explained_and_kept_in_the_form(client, scene, therapist):
    client.force_login(therapist)
    url = reverse("groups:session_notes", args=[scene["session"].pk])
    empty = client.post(url, {"body": "   "})
    assert empty.status_code == 200
    assert "This field is required" in empty.content.decode()
    long = client.post(url, {"body": "a" * 4001})
    assert long.status_code == 200
    assert "4,000 characters; yours has 4,001" in long.content.decode()
    assert not SessionNote.objects.exists()


def test_the_manage_page_links_to_the_notes_of_a_session_that_has_started(client, scene, therapist):
    session = _ended(scene["session"], days_ago=1)
    client.force_login(therapist)
    page = client.get(reverse("groups:manage", args=[scene["group"].slug])).content.decode()
    assert reverse("groups:session_notes", args=[session.pk]) in page


def test_notes_of_sessions_past_the_groups_retention_are_deleted(scene, therapist):
    group = scene["group"]
    assert group.transcript_retention_days == 30
    old = _ended(make_session(group, days_ahead=5), days_ago=31)
    recent = _ended(scene["session"], days_ago=29)
    note_create(actor=therapist, session=old, body="Old note")
    note_create(actor=therapist, session=old, subject=scene["enrollment"].user, body="Old")
    kept = note_create(actor=therapist, session=recent, body="Recent note")
    assert notes_purge() == 2
    assert list(SessionNote.objects.all()) == [kept]
    [purged] = AuditEvent.objects.filter(action=AuditAction.NOTES_PURGED)
    assert purged.details == {"notes": 2, "retention_days": 30}
    assert notes_purge() == 0  # safe to run twice
    assert AuditEvent.objects.filter(action=AuditAction.NOTES_PURGED).count() == 1


def test_the_daily_purge_deletes_expired_notes_too(scene, therapist):
    from moderation.tasks import purge_transcripts

    old = _ended(scene["session"], days_ago=40)
    note_create(actor=therapist, session=old, body="Old note")
    purge_transcripts()
    assert not SessionNote.objects.exists()
