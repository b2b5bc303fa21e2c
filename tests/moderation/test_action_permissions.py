"""Every action on a report is refused to a facilitator of another group, a client of the group
and an outsider: the review page answers 404, the service refuses in plain words, and nothing
changes (no decision, no effect, no email, no audit row)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.exceptions import ServiceError
from accounts.models import Notification
from accounts.roles import Role
from chat.models import Message
from groups.models import Enrollment
from moderation.models import AuditEvent, Report, Sanction
from tests.factories import UserFactory, add_totp, make_group
from tests.moderation.conftest import ACTIONS, file_report, take_action

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_facilitator(db):
    """A therapist who leads a different group."""
    person = UserFactory(display_name="Far Lantern", roles=[Role.THERAPIST])
    add_totp(person)
    make_group(person, title="Their own group")
    return person


def _state(scene, report: Report) -> dict[str, object]:
    report.refresh_from_db()
    author = scene["author"].__class__.objects.get(pk=scene["author"].pk)
    enrollment = Enrollment.objects.get(group=scene["group"], user=author)
    return {
        "report": (report.status, report.outcome, report.closed_by_id, report.escalated_at),
        "message_hidden": Message.objects.get(pk=scene["message"].pk).hidden_at,
        "enrollment": (enrollment.state, enrollment.muted_until),
        "suspended_until": author.suspended_until,
        "sanctions": Sanction.objects.count(),
        "audit_rows": AuditEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


@pytest.mark.parametrize("persona", ["other_facilitator", "client", "outsider"])
@pytest.mark.parametrize("action", ACTIONS)
def test_people_without_the_right_can_take_no_action(client, request, scene, persona, action):
    report = file_report(scene)
    person = scene["reporter"] if persona == "client" else request.getfixturevalue(persona)
    client.force_login(person)  # (logging in is itself audited: count from here)
    before = _state(scene, report)

    response = client.post(
        reverse("moderation:report_detail", args=[report.pk]),
        {"action": action, "reason": "Reviewed", "days": 2},
    )
    assert response.status_code == 404
    with pytest.raises(ServiceError) as refused:
        take_action(action, actor=person, report=report)
    assert refused.value.code == "forbidden"

    assert _state(scene, report) == before
