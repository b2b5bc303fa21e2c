"""Bringing help to someone who may be in crisis, from the message they just sent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from accounts.models import Notification, User
from accounts.notifications import notify
from chat.checks import CheckOutcome
from groups import rights
from groups.models import TherapyGroupUserObjectPermission
from moderation.audit import AuditAction, audit_record
from moderation.crisis import crisis_detector
from moderation.selectors import crisis_lines_by_country

if TYPE_CHECKING:
    from chat.models import Message
    from chat.selectors import RoomAccess

SUPPORT_NOTE = (
    "It sounds like things may be really hard right now. You are not alone, and you deserve "
    "support. If you are in danger, please call your local emergency number. These lines can "
    "help right now, any time:"
)


def crisis_check(message: Message, access: RoomAccess) -> CheckOutcome | None:
    """On signs of crisis: the message is still delivered; the writer privately gets crisis
    lines; the room's facilitators get a private alert; one audit event (ids only)."""
    if crisis_detector().detect(message.body) is None:
        return None
    audit_record(
        actor=access.user,
        action=AuditAction.CRISIS_SIGNAL,
        target=message,
        group_id=access.session.group_id,
        session_id=access.session.pk,
        details={"position": message.position},
    )
    facilitators = TherapyGroupUserObjectPermission.objects.filter(
        content_object_id=access.session.group_id, permission__codename=rights.FACILITATE
    ).values_list("user_id", flat=True)
    for user_id in facilitators:
        notify(
            kind=Notification.Kind.CRISIS_ALERT,
            recipient=User(pk=user_id),
            group_id=access.session.group_id,
            session_id=access.session.pk,
            object_id=message.pk,
        )
    groups = crisis_lines_by_country(country=access.user.country)[:2]
    lines = [
        {
            "name": line.name,
            "phone": line.phone,
            "text": line.text,
            "website": line.website,
            "hours": line.hours,
        }
        for _, group_lines in groups
        for line in group_lines
    ]
    return CheckOutcome(
        to_sender=[
            {
                "type": "crisis.support",
                "position": message.position,
                "note": SUPPORT_NOTE,
                "lines": lines,
            }
        ],
        to_facilitators=[
            {
                "type": "crisis.alert",
                "position": message.position,
                "participant": message.author_id,
                "name": access.name,
            }
        ],
    )
