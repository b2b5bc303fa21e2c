"""Tell people what happened to them, by email, only once the change has committed."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from accounts.models import Notification, User


def notify(
    *,
    kind: Notification.Kind,
    recipient: User | None = None,
    email: str = "",
    group_id: int | None = None,
    session_id: int | None = None,
    object_id: int | None = None,
    code: str = "",
    until: datetime | None = None,
) -> Notification:
    """Record a notification and queue its email for after the surrounding transaction commits.

    A rolled-back change leaves neither the row nor a queued email.
    """
    notification = Notification.objects.create(
        recipient=recipient,
        email=email,
        kind=kind,
        group_id=group_id,
        session_id=session_id,
        object_id=object_id,
        code=code,
        until=until,
    )
    from accounts.tasks import send_notification

    transaction.on_commit(lambda: send_notification.delay(notification.pk))
    return notification
