"""Reviewing reports: who may see and decide them, the one audit row each decision writes, and
what the people concerned see and are told."""

from __future__ import annotations

import uuid

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.exceptions import ServiceError
from chat.models import Message, Participant
from chat.selectors import room_access
from chat.services import message_post, room_join
from groups import rights
from groups.models import Enrollment
from moderation import services
from moderation.models import AuditAction, AuditEvent, Report, Sanction
from tests.factories import make_member
from tests.moderation.conftest import (
    ACTIONS,
    audit_since,
    file_report,
    last_audit_id,
    take_action,
)

pytestmark = pytest.mark.django_db

# The one audit row each decision writes: its action, and what it is about.
EXPECTED_ROW = {
    "dismiss": (AuditAction.REPORT_DISMISSED, "report"),
    "hide": (AuditAction.ROOM_MESSAGE_HIDDEN, "message"),
    "warn": (AuditAction.MEMBER_WARNED, "author"),
    "mute": (AuditAction.SANCTION_APPLIED, "sanction"),
    "remove": (AuditAction.ENROLLMENT_REMOVED, "enrollment"),
    "escalate": (AuditAction.REPORT_ESCALATED, "report"),
    "suspend": (AuditAction.SANCTION_APPLIED, "sanction"),
}


def _target(name: str, scene, report: Report):
    return {
        "report": lambda: report,
        "message": lambda: scene["message"],
        "author": lambda: scene["author"],
        "sanction": lambda: Sanction.objects.get(report=report),
        "enrollment": lambda: Enrollment.objects.get(group=scene["group"], user=scene["author"]),
    }[name]()


def _assert_one_row(rows: list[AuditEvent], *, action: str, actor, scene, report: Report) -> None:
    expected_action, target_name = EXPECTED_ROW[action]
    assert [row.action for row in rows] == [expected_action]
    [row] = rows
    target = _target(target_name, scene, report)
    assert row.actor_id == actor.pk
    assert (row.target_type, row.target_id) == (target._meta.label_lower, str(target.pk))
    assert row.group_id == scene["group"].pk
    if target_name != "report":  # the row about the effect names the report it decided
        assert row.details["report"] == report.pk


@pytest.mark.parametrize("action", ACTIONS)
def test_each_decision_writes_exactly_one_audit_row(scene, therapist, staff_user, action):
    report = file_report(scene)
    actor = staff_user if action == "suspend" else therapist
    last = last_audit_id()
    take_action(action, actor=actor, report=report)
    _assert_one_row(audit_since(last), action=action, actor=actor, scene=scene, report=report)


def test_hiding_a_message_already_hidden_in_the_room_records_the_decision_once(scene, therapist):
    from chat.services import message_hide

    report = file_report(scene)
    message_hide(
        actor=therapist, session_id=scene["session"].pk, position=scene["message"].position
    )
    last = last_audit_id()
    services.report_hide_message(actor=therapist, report=report, reason="Already done")
    [row] = audit_since(last)
    assert (row.action, row.actor, row.target_id) == (
        AuditAction.REPORT_RESOLVED,
        therapist,
        str(report.pk),
    )
    assert row.details == {"outcome": "message_hidden"}


def _effect_happened(action: str, scene) -> bool:
    author = scene["author"].__class__.objects.get(pk=scene["author"].pk)
    enrollment = Enrollment.objects.get(group=scene["group"], user=author)
    return {
        "dismiss": lambda: True,
        "hide": lambda: Message.objects.get(pk=scene["message"].pk).hidden_at is not None,
        "warn": lambda: True,
        "mute": lambda: enrollment.is_muted,
        "remove": lambda: enrollment.state == Enrollment.State.REMOVED,
        "suspend": lambda: author.is_suspended,
    }[action]()


@pytest.mark.parametrize("action", [a for a in ACTIONS if a != "escalate"])
def test_staff_take_every_action_on_an_escalated_report_without_rights_on_the_group(
    client, scene, therapist, staff_user, action
):
    assert rights.rights_of(user=staff_user, group=scene["group"]) == frozenset()
    report = services.report_escalate(actor=therapist, report=file_report(scene), reason="Staff")
    client.force_login(staff_user)
    last = last_audit_id()
    response = client.post(
        reverse("moderation:report_detail", args=[report.pk]),
        {"action": action, "reason": "Reviewed", "days": 2},
    )
    assert response.status_code == 302, response.content.decode()
    report.refresh_from_db()
    assert (report.status, report.closed_by) == ("closed", staff_user)
    assert _effect_happened(action, scene)
    _assert_one_row(audit_since(last), action=action, actor=staff_user, scene=scene, report=report)
    assert rights.rights_of(user=staff_user, group=scene["group"]) == frozenset()


def _facilitator_message(scene, therapist) -> Message:
    now = timezone.now()
    access = room_access(user=therapist, session_id=scene["session"].pk, now=now)
    room_join(access=access, channel_name="host", now=now)
    return message_post(
        actor=therapist, session_id=scene["session"].pk, body="Hurry up", client_id=uuid.uuid4()
    ).message


def test_a_report_about_a_facilitator_goes_to_staff_and_never_to_them(
    client, scene, therapist, staff_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = services.report_file(
            actor=scene["reporter"],
            group=scene["group"],
            reason=Report.Reason.HARASSMENT,
            message=_facilitator_message(scene, therapist),
        )
    assert report.subject == therapist
    assert report.status == Report.Status.ESCALATED  # as if escalated: staff decide
    assert [m.to for m in mail.outbox] == [[staff_user.email]]
    assert not services.can_review(therapist, report)
    assert services.can_review(staff_user, report)
    with pytest.raises(ServiceError):
        services.report_dismiss(actor=therapist, report=report, reason="Nothing to see")
    client.force_login(therapist)
    assert client.get(reverse("moderation:report_detail", args=[report.pk])).status_code == 404
    assert list(client.get(reverse("moderation:queue")).context["reports"]) == []
    report.refresh_from_db()
    assert report.status == Report.Status.ESCALATED


def test_nobody_reviews_a_report_about_themselves(scene, staff_user):
    make_member(scene["group"], user=staff_user)
    now = timezone.now()
    access = room_access(user=staff_user, session_id=scene["session"].pk, now=now)
    participant = room_join(access=access, channel_name="s", now=now)
    report = services.report_file(
        actor=scene["reporter"],
        group=scene["group"],
        reason=Report.Reason.OTHER,
        subject=participant.user,
        session=scene["session"],
    )
    assert not services.can_review(staff_user, report)
    with pytest.raises(ServiceError):
        services.report_dismiss(actor=staff_user, report=report, reason="Not me")


def test_hiding_a_message_from_the_queue_tells_its_author_in_plain_words(
    scene, therapist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.report_hide_message(actor=therapist, report=file_report(scene), reason="Unkind")
    [notice] = [m for m in mail.outbox if m.to == [scene["author"].email]]
    assert notice.subject == "[Hearth] A message about your Hearth account"
    assert "hidden one of your messages" in notice.body
    assert "community guidelines" in notice.body
    for secret in ("pathetic", scene["group"].title, scene["reporter"].display_name, "Unkind"):
        assert secret not in notice.body and secret not in notice.subject


def test_the_report_page_and_the_queue_name_the_member_by_their_name_in_the_group(
    client, scene, therapist
):
    Enrollment.objects.filter(group=scene["group"], user=scene["author"]).update(
        pseudonym="River Stone"
    )
    participant = Participant.objects.get(session=scene["session"], user=scene["author"])
    client.force_login(scene["reporter"])
    url = reverse("moderation:report", args=[scene["group"].slug])
    client.post(
        url + f"?session={scene['session'].pk}&participant={participant.pk}", {"reason": "other"}
    )
    report = Report.objects.get(subject=scene["author"])

    client.force_login(therapist)
    queue = client.get(reverse("moderation:queue")).content.decode()
    page = client.get(reverse("moderation:report_detail", args=[report.pk])).content.decode()
    for html in (queue, page):
        assert "River Stone" in html
        assert scene["author"].email not in html
        assert scene["author"].display_name not in html


@pytest.mark.parametrize(
    "query", ["", "?session={session}&position={position}", "?session={session}&participant={p}"]
)
def test_an_outsider_reaches_no_report_page_of_a_group(client, scene, outsider, query):
    participant = Participant.objects.get(session=scene["session"], user=scene["author"])
    url = reverse("moderation:report", args=[scene["group"].slug]) + query.format(
        session=scene["session"].pk, position=scene["message"].position, p=participant.pk
    )
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 404
    assert "pathetic" not in response.content.decode()
    assert client.post(url, {"reason": "spam"}).status_code == 404
    assert not Report.objects.exists()


def test_opening_a_report_in_the_admin_is_recorded_like_the_queue(client, scene, staff_user):
    report = file_report(scene)
    client.force_login(staff_user)
    last = last_audit_id()
    assert client.get(reverse("admin:moderation_report_changelist")).status_code == 200
    assert audit_since(last) == []  # the list shows no report's content
    response = client.get(reverse("admin:moderation_report_change", args=[report.pk]))
    assert response.status_code == 200
    [event] = audit_since(last)
    assert (event.action, event.actor, event.target_id) == (
        AuditAction.REPORT_OPENED,
        staff_user,
        str(report.pk),
    )
    assert (event.group_id, event.session_id) == (scene["group"].pk, scene["session"].pk)
