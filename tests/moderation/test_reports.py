"""Reports and sanctions: two clicks to report, a queue per reviewer, actions that each need a
reason, tell the people concerned, and write exactly one audit row."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.exceptions import ServiceError
from chat.services import message_post
from groups.models import Enrollment
from moderation import services
from moderation.models import AuditAction, AuditEvent, Report, Sanction
from tests.factories import UserFactory, add_totp, make_group
from tests.moderation.conftest import file_report

pytestmark = pytest.mark.django_db


file = file_report  # the scene's reporter reports its message


def one_audit(action) -> AuditEvent:
    [event] = AuditEvent.objects.filter(action=action)
    return event


def test_a_member_reports_a_message_in_two_clicks_and_the_facilitator_is_told(
    client, scene, therapist, django_capture_on_commit_callbacks
):
    client.force_login(scene["reporter"])
    url = reverse("moderation:report", args=[scene["group"].slug])
    url += f"?session={scene['session'].pk}&position={scene['message'].position}"
    page = client.get(url)
    assert page.status_code == 200
    assert "You are all pathetic" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"reason": "harassment", "note": "This upset me."})
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.subject, report.message, report.status) == (
        scene["author"],
        scene["message"],
        "open",
    )
    assert [m.to for m in mail.outbox] == [[therapist.email]]
    assert "pathetic" not in mail.outbox[0].body and "upset" not in mail.outbox[0].body
    event = one_audit(AuditAction.REPORT_FILED)
    assert event.details == {"reason": "harassment"}


def test_a_report_without_a_reason_is_explained(client, scene):
    client.force_login(scene["reporter"])
    url = reverse("moderation:report", args=[scene["group"].slug])
    url += f"?session={scene['session'].pk}&position={scene['message'].position}"
    response = client.post(url, {"reason": ""})
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not Report.objects.exists()


def test_an_outsider_cannot_report_in_a_group_or_see_its_messages(client, scene, outsider):
    client.force_login(outsider)
    url = reverse("moderation:report", args=[scene["group"].slug])
    position = scene["message"].position
    response = client.get(url + f"?session={scene['session'].pk}&position={position}")
    assert response.status_code == 404
    assert "pathetic" not in response.content.decode()
    with pytest.raises(ServiceError):
        services.report_file(
            actor=outsider, group=scene["group"], reason="spam", message=scene["message"]
        )


def test_someone_may_be_in_danger_alerts_facilitators_and_staff_at_once(
    scene, therapist, staff_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        file(scene, reason=Report.Reason.DANGER)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([therapist.email, staff_user.email])


def test_the_reported_person_never_learns_who_reported(
    scene, therapist, django_capture_on_commit_callbacks
):
    report = file(scene)
    with django_capture_on_commit_callbacks(execute=True):
        services.report_warn(actor=therapist, report=report, reason="Please be kind")
    to_author = [m for m in mail.outbox if m.to == [scene["author"].email]]
    assert to_author
    for message in to_author:
        assert scene["reporter"].display_name not in message.body
        assert scene["reporter"].email not in message.body
    to_reporter = [m for m in mail.outbox if m.to == [scene["reporter"].email]]
    assert [m.subject for m in to_reporter] == ["[Hearth] Thank you: your report has been handled"]


def test_opening_a_report_is_recorded_and_shows_context_with_pseudonyms_only(
    client, scene, therapist
):
    report = file(scene)
    client.force_login(therapist)
    page = client.get(reverse("moderation:report_detail", args=[report.pk])).content.decode()
    assert "You are all pathetic" in page
    assert scene["author"].email not in page and scene["reporter"].email not in page
    assert one_audit(AuditAction.REPORT_OPENED).actor == therapist


@pytest.mark.parametrize("persona", ["member", "outsider", "peer_supervisor"])
def test_people_without_the_right_cannot_review(client, request, scene, persona):
    report = file(scene)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("moderation:report_detail", args=[report.pk])).status_code == 404
    with pytest.raises(ServiceError):
        services.report_dismiss(actor=request.getfixturevalue(persona), report=report, reason="no")
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_OPENED).exists()


def test_a_facilitator_of_another_group_cannot_act(scene):
    from accounts.roles import Role

    other = UserFactory(roles=[Role.THERAPIST])
    add_totp(other)
    make_group(other, title="Their group")
    report = file(scene)
    with pytest.raises(ServiceError):
        services.report_hide_message(actor=other, report=report, reason="no")


def test_an_unknown_action_or_a_mute_without_days_is_refused_and_changes_nothing(scene, therapist):
    report = file(scene)
    for action, until, code in (("nuke", None, "invalid_action"), ("mute", None, "days_required")):
        with pytest.raises(ServiceError) as refused:
            services.report_decide(
                actor=therapist, report=report, action=action, reason="no", until=until
            )
        assert refused.value.code == code
    report.refresh_from_db()
    assert (report.status, report.outcome, report.closed_at) == (Report.Status.OPEN, "", None)
    assert not Sanction.objects.exists()


@pytest.mark.parametrize(
    ("action", "outcome", "audit_action"),
    [
        ("report_dismiss", "dismissed", AuditAction.REPORT_DISMISSED),
        ("report_hide_message", "message_hidden", AuditAction.ROOM_MESSAGE_HIDDEN),
        ("report_warn", "warned", AuditAction.MEMBER_WARNED),
        ("report_remove", "removed", AuditAction.ENROLLMENT_REMOVED),
    ],
)
def test_each_action_needs_a_reason_closes_the_report_and_writes_one_audit_row(
    scene, therapist, action, outcome, audit_action
):
    report = file(scene)
    with pytest.raises(ServiceError, match="reason"):
        getattr(services, action)(actor=therapist, report=report, reason=" ")
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    getattr(services, action)(actor=therapist, report=report, reason="Reviewed")
    report.refresh_from_db()
    assert (report.status, report.outcome) == ("closed", outcome)
    [event] = AuditEvent.objects.filter(id__gt=before)  # exactly one row for the action
    target = {
        AuditAction.REPORT_DISMISSED: report,
        AuditAction.ROOM_MESSAGE_HIDDEN: scene["message"],
        AuditAction.MEMBER_WARNED: scene["author"],
        AuditAction.ENROLLMENT_REMOVED: Enrollment.objects.filter(user=scene["author"]).first(),
    }[audit_action]
    assert (event.action, event.actor, event.group_id) == (audit_action, therapist, report.group_id)
    assert (event.target_type, event.target_id) == (target._meta.label_lower, str(target.pk))
    assert not AuditEvent.objects.filter(action=AuditAction.REPORT_RESOLVED).exists()
    with pytest.raises(ServiceError, match="already been handled"):
        getattr(services, action)(actor=therapist, report=report, reason="again")


def test_hiding_from_the_queue_hides_the_message_for_everyone(scene, therapist):
    services.report_hide_message(actor=therapist, report=file(scene), reason="Abusive")
    scene["message"].refresh_from_db()
    assert scene["message"].hidden_at is not None


def test_a_group_mute_holds_until_its_time_and_then_lifts_itself(scene, therapist):
    until = timezone.now() + timedelta(days=2)
    services.report_mute(actor=therapist, report=file(scene), reason="Cooling off", until=until)
    enrollment = Enrollment.objects.get(user=scene["author"], group=scene["group"])
    assert enrollment.muted_until == until
    with pytest.raises(ServiceError) as caught:
        message_post(
            actor=scene["author"], session_id=scene["session"].pk, body="hi", client_id=uuid.uuid4()
        )
    assert caught.value.code == "muted"
    sanction = Sanction.objects.get()
    assert sanction.is_active_at(timezone.now())
    later = until + timedelta(seconds=1)
    assert not sanction.is_active_at(later)
    assert services.sanctions_expire(now=later) == 1
    assert services.sanctions_expire(now=later) == 0  # safe to run twice
    sanction.refresh_from_db()
    assert sanction.lifted_at is not None
    assert AuditEvent.objects.filter(action=AuditAction.SANCTION_LIFTED).count() == 1


def test_escalation_hands_the_report_to_staff_only(scene, therapist, staff_user):
    report = services.report_escalate(actor=therapist, report=file(scene), reason="Needs staff")
    assert report.status == "escalated"
    assert not services.can_review(therapist, report)
    assert services.can_review(staff_user, report)


def test_only_staff_suspend_and_a_suspended_account_cannot_log_in(
    client, scene, therapist, staff_user
):
    from tests.factories import PASSWORD

    report = file(scene)
    with pytest.raises(ServiceError, match="Only staff"):
        services.report_suspend(actor=therapist, report=report, reason="x", until=None)
    services.report_suspend(
        actor=staff_user, report=report, reason="Threats", until=timezone.now() + timedelta(days=7)
    )
    scene["author"].refresh_from_db()
    assert scene["author"].is_suspended
    response = client.post(
        reverse("account_login"), {"login": scene["author"].email, "password": PASSWORD}
    )
    assert response.status_code == 403
    assert "suspended" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_suspended_person_already_logged_in_is_logged_out(client, member, staff_user):
    client.force_login(member)
    services.account_suspend(actor=staff_user, user=member, reason="Abuse", until=None)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    event = one_audit(AuditAction.SANCTION_APPLIED)
    assert event.details == {"kind": "suspension", "subject": member.pk, "permanent": True}


def test_the_queue_shows_each_reviewer_their_own_reports(client, scene, therapist, staff_user):
    report = file(scene)
    client.force_login(therapist)
    assert list(client.get(reverse("moderation:queue")).context["reports"]) == [report]
    client.force_login(scene["reporter"])
    assert list(client.get(reverse("moderation:queue")).context["reports"]) == []
    client.force_login(staff_user)
    assert list(client.get(reverse("moderation:queue")).context["reports"]) == [report]


def test_the_room_offers_a_report_link_on_others_messages_only(client, scene):
    client.force_login(scene["reporter"])
    page = client.get(reverse("chat:room", args=[scene["session"].pk])).content.decode()
    report_url = reverse("moderation:report", args=[scene["group"].slug])
    assert (
        f"{report_url}?session={scene['session'].pk}&amp;position={scene['message'].position}"
        in page
    )
    client.force_login(scene["author"])
    assert (
        report_url + "?session"
        not in client.get(reverse("chat:room", args=[scene["session"].pk])).content.decode()
    )


def test_an_active_mute_is_shown_to_its_subject_and_to_the_facilitator(client, scene, therapist):
    until = timezone.now() + timedelta(days=1)
    services.report_mute(actor=therapist, report=file(scene), reason="Cooling off", until=until)
    client.force_login(scene["author"])
    page = client.get(reverse("groups:detail", args=[scene["group"].slug])).content.decode()
    assert "You are muted in this group until" in page
    client.force_login(therapist)
    assert (
        "muted until"
        in client.get(reverse("groups:manage", args=[scene["group"].slug])).content.decode()
    )


def test_staff_lift_a_sanction_from_the_admin(client, member, staff_user):
    sanction = services.account_suspend(actor=staff_user, user=member, reason="Abuse", until=None)
    client.force_login(staff_user)
    client.post(
        reverse("admin:moderation_sanction_changelist"),
        {"action": "lift", "_selected_action": [sanction.pk]},
    )
    member.refresh_from_db()
    assert not member.is_suspended
    assert AuditEvent.objects.filter(action=AuditAction.SANCTION_LIFTED).count() == 1


def test_the_person_affected_is_told_in_plain_words_without_group_or_content(
    scene, therapist, staff_user, django_capture_on_commit_callbacks
):
    until = timezone.now() + timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=True):
        services.report_mute(actor=therapist, report=file(scene), reason="Cooling off", until=until)
    [notice] = [m for m in mail.outbox if m.to == [scene["author"].email]]
    assert notice.subject == "[Hearth] A message about your Hearth account"
    assert "muted you in one of your groups until" in notice.body
    assert "read along" in notice.body
    for secret in (scene["group"].title, "pathetic", scene["reporter"].display_name, "Cooling off"):
        assert secret not in notice.body and secret not in notice.subject
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.account_suspend(
            actor=staff_user, user=scene["author"], reason="Threats", until=None
        )
    assert "closed your Hearth account" in mail.outbox[-1].body


def test_a_mute_email_gives_the_end_time_in_the_recipients_zone(
    scene, therapist, django_capture_on_commit_callbacks
):
    from datetime import UTC
    from zoneinfo import ZoneInfo

    scene["author"].time_zone = "Asia/Tokyo"
    scene["author"].save(update_fields=["time_zone"])
    in_ten_days = timezone.now().astimezone(UTC) + timedelta(days=10)
    until = in_ten_days.replace(hour=12, minute=0, second=0, microsecond=0)  # 21:00 in Tokyo
    tokyo_day = until.astimezone(ZoneInfo("Asia/Tokyo"))
    with django_capture_on_commit_callbacks(execute=True):
        services.report_mute(
            actor=scene["author"].__class__.objects.get(pk=therapist.pk),
            report=file(scene),
            reason="Pause",
            until=until,
        )
    [notice] = [m for m in mail.outbox if m.to == [scene["author"].email]]
    assert f"{tokyo_day.day} {tokyo_day:%B %Y}, 21:00 JST" in notice.body


def test_a_member_reports_a_concern_from_the_group_page(client, scene, therapist):
    client.force_login(scene["reporter"])
    page = client.get(reverse("groups:detail", args=[scene["group"].slug])).content.decode()
    url = reverse("moderation:report", args=[scene["group"].slug])
    assert f'href="{url}"' in page
    response = client.post(url, {"reason": "other", "note": "The start times keep changing."})
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.message, report.subject, report.group) == (None, None, scene["group"])
    assert services.can_review(therapist, report)
    assert client.get(url + "?session=1").status_code == 404
