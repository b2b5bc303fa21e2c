from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from chat.selectors import room_access
from chat.services import message_post, room_join
from moderation import services
from moderation.models import AuditEvent, Report
from tests.chat.conftest import (  # noqa: F401  (fixtures shared with the room tests)
    _close_connections_of_the_database_thread,
    _generous_rate_limit,
    open_session,
    room,
)
from tests.factories import make_group, make_member


@pytest.fixture
def scene(therapist, settings):
    """A group with an open session, two members, and an unkind message from the second one."""
    settings.CHAT_RATE_LIMIT_BURST = 1000
    group = make_group(therapist, title="Evening circle")
    reporter, author = make_member(group).user, make_member(group).user
    session = open_session(group)
    now = timezone.now()
    room_join(
        access=room_access(user=author, session_id=session.pk, now=now), channel_name="a", now=now
    )
    posted = message_post(
        actor=author, session_id=session.pk, body="You are all pathetic", client_id=uuid.uuid4()
    )
    return {
        "group": group,
        "session": session,
        "reporter": reporter,
        "author": author,
        "message": posted.message,
    }


def file_report(scene, reason=Report.Reason.HARASSMENT, **extra) -> Report:
    """The reporter reports the author's message."""
    return services.report_file(
        actor=scene["reporter"],
        group=scene["group"],
        reason=reason,
        message=scene["message"],
        **extra,
    )


def last_audit_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def audit_since(last_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=last_id).order_by("id"))


ACTIONS = ["dismiss", "hide", "warn", "mute", "remove", "escalate", "suspend"]


def take_action(action: str, *, actor, report: Report) -> Report:
    """Take ``action`` on ``report`` through its service, as the review page does."""
    from datetime import timedelta

    until = timezone.now() + timedelta(days=2)
    return services.report_decide(
        actor=actor, report=report, action=action, reason="Reviewed", until=until
    )
