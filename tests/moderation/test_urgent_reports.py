"""Reports that someone may be in danger are flagged urgent in the queue and the (neutral)
email, the reporter sees the crisis lines, and reviewers get only the actions that apply."""

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
from moderation import services
from moderation.models import Report
from tests.moderation.conftest import file_report

pytestmark = pytest.mark.django_db


def _group_report(scene) -> Report:
    """A concern about the group itself, not a message or a member."""
    return services.report_file(
        actor=scene["reporter"], group=scene["group"], reason=Report.Reason.OTHER
    )


def _facilitator_report(scene, therapist) -> Report:
    now = timezone.now()
    access = room_access(user=therapist, session_id=scene["session"].pk, now=now)
    room_join(access=access, channel_name="host", now=now)
    message = message_post(
        actor=therapist, session_id=scene["session"].pk, body="Hurry up", client_id=uuid.uuid4()
    ).message
    return services.report_file(
        actor=scene["reporter"], group=scene["group"], reason="harassment", message=message
    )


def _offered(client, report: Report) -> list[str]:
    page = client.get(reverse("moderation:report_detail", args=[report.pk]))
    assert page.status_code == 200
    return [value for value, _ in page.context["form"].fields["action"].widget.choices]


# --- Urgent ----------------------------------------------------------------------------------


def test_a_danger_report_comes_first_in_the_queue_and_is_marked_urgent(
    client, scene, therapist, staff_user
):
    earlier = file_report(scene)
    escalated = services.report_escalate(actor=therapist, report=_group_report(scene), reason="x")
    urgent = file_report(scene, reason=Report.Reason.DANGER)
    client.force_login(staff_user)
    response = client.get(reverse("moderation:queue"))
    assert list(response.context["reports"]) == [urgent, escalated, earlier]
    page = response.content.decode()
    assert page.count("badge--urgent") == 1
    client.force_login(therapist)
    response = client.get(reverse("moderation:queue"))
    assert list(response.context["reports"]) == [urgent, earlier]
    detail = client.get(reverse("moderation:report_detail", args=[urgent.pk])).content.decode()
    assert "Urgent" in detail and "Someone may be in danger" in detail
    calm = client.get(reverse("moderation:report_detail", args=[earlier.pk])).content.decode()
    assert "badge--urgent" not in calm


def test_the_email_about_a_danger_report_says_urgent_and_nothing_more(
    scene, therapist, staff_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        report = file_report(scene, reason=Report.Reason.DANGER, note="He said he has pills")
    assert sorted(m.to[0] for m in mail.outbox) == sorted([therapist.email, staff_user.email])
    for email in mail.outbox:
        assert email.subject == "[Hearth] Urgent: a report needs your attention on Hearth"
        assert "URGENT" in email.body
        assert f"/moderation/reports/{report.pk}/" in email.body
        for secret in (
            scene["group"].title,
            scene["group"].topic.name,
            "pathetic",
            "pills",
            scene["reporter"].display_name,
            scene["author"].display_name,
        ):
            assert secret not in email.body and secret not in email.subject


def test_the_email_about_any_other_report_is_not_urgent(
    scene, therapist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        file_report(scene)
    [email] = mail.outbox
    assert email.subject == "[Hearth] A report needs your attention on Hearth"
    assert "URGENT" not in email.body


def test_escalating_a_danger_report_tells_staff_it_is_urgent(
    scene, therapist, staff_user, django_capture_on_commit_callbacks
):
    report = file_report(scene, reason=Report.Reason.DANGER)
    with django_capture_on_commit_callbacks(execute=True):
        services.report_escalate(actor=therapist, report=report, reason="Needs staff")
    [email] = mail.outbox
    assert email.to == [staff_user.email]
    assert email.subject.startswith("[Hearth] Urgent:")


def test_the_reporter_of_a_danger_report_is_shown_the_crisis_lines(client, scene, outsider):
    scene["reporter"].country = "GB"
    scene["reporter"].save(update_fields=["country"])
    client.force_login(scene["reporter"])
    url = reverse("moderation:report", args=[scene["group"].slug])
    url += f"?session={scene['session'].pk}&position={scene['message'].position}"
    response = client.post(url, {"reason": "danger"}, follow=True)
    report = Report.objects.get()
    assert response.redirect_chain[-1][0] == reverse("moderation:report_sent", args=[report.pk])
    page = response.content.decode()
    assert "Samaritans" in page and "116 123" in page
    assert "emergency number" in page
    for other in (outsider, scene["author"]):
        client.force_login(other)
        sent = reverse("moderation:report_sent", args=[report.pk])
        assert client.get(sent).status_code == 404


def test_the_reporter_of_any_other_report_goes_back_to_the_group(client, scene):
    client.force_login(scene["reporter"])
    url = reverse("moderation:report", args=[scene["group"].slug])
    url += f"?session={scene['session'].pk}&position={scene['message'].position}"
    response = client.post(url, {"reason": "spam"})
    assert response["Location"] == reverse("groups:detail", args=[scene["group"].slug])


# --- Only the actions that apply ---------------------------------------------------------------


def test_a_report_about_a_message_offers_every_action_to_staff(client, scene, staff_user):
    report = file_report(scene)
    client.force_login(staff_user)
    assert _offered(client, report) == [
        "dismiss",
        "hide",
        "warn",
        "mute",
        "remove",
        "escalate",
        "suspend",
    ]


def test_a_facilitator_is_not_offered_suspend(client, scene, therapist):
    client.force_login(therapist)
    assert "suspend" not in _offered(client, file_report(scene))


def test_a_report_about_a_facilitator_offers_no_suspend_and_a_forged_one_is_refused_kindly(
    client, scene, therapist, staff_user
):
    report = _facilitator_report(scene, therapist)
    client.force_login(staff_user)
    assert _offered(client, report) == ["dismiss", "hide", "warn"]
    response = client.post(
        reverse("moderation:report_detail", args=[report.pk]),
        {"action": "suspend", "reason": "Abuse", "days": 3},
    )
    assert response.status_code == 200
    assert "does not apply to this report" in response.content.decode()
    for action in ("suspend", "mute", "remove"):
        with pytest.raises(ServiceError) as refused:
            services.report_decide(actor=staff_user, report=report, action=action, reason="x")
        assert refused.value.code == "not_applicable"
    with pytest.raises(ServiceError, match="facilitators"):
        services.report_suspend(actor=staff_user, report=report, reason="x", until=None)
    report.refresh_from_db()
    therapist.refresh_from_db()
    assert report.status == Report.Status.ESCALATED
    assert not therapist.is_suspended


def test_a_report_about_the_group_offers_no_message_or_member_actions(client, scene, therapist):
    report = _group_report(scene)
    client.force_login(therapist)
    assert _offered(client, report) == ["dismiss", "escalate"]
    response = client.post(
        reverse("moderation:report_detail", args=[report.pk]),
        {"action": "hide", "reason": "Forged"},
    )
    assert response.status_code == 200
    assert "does not apply to this report" in response.content.decode()
    for action in ("hide", "warn", "mute", "remove"):
        with pytest.raises(ServiceError) as refused:
            services.report_decide(actor=therapist, report=report, action=action, reason="x")
        assert refused.value.code == "not_applicable"
    report.refresh_from_db()
    assert (report.status, report.outcome) == (Report.Status.OPEN, "")
    assert Message.objects.get(pk=scene["message"].pk).hidden_at is None


def test_a_report_about_a_member_offers_no_message_actions(client, scene, therapist):
    participant = Participant.objects.get(session=scene["session"], user=scene["author"])
    report = services.report_file(
        actor=scene["reporter"],
        group=scene["group"],
        reason="harassment",
        subject=participant.user,
        session=scene["session"],
    )
    client.force_login(therapist)
    assert _offered(client, report) == ["dismiss", "warn", "mute", "remove", "escalate"]
    with pytest.raises(ServiceError) as refused:
        services.report_decide(actor=therapist, report=report, action="hide", reason="x")
    assert refused.value.code == "not_applicable"
