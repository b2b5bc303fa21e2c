"""Account housekeeping and the sending of notifications."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from celery import shared_task
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.jobs import periodic
from accounts.models import Notification

# Neutral subjects: no group title, no topic, nothing from a conversation.
SUBJECTS = {
    Notification.Kind.SESSION_CANCELLED: "A session you signed up for has been cancelled",
    Notification.Kind.SESSION_RESCHEDULED: "A session you signed up for has a new time",
    Notification.Kind.WAITLIST_PROMOTED: "A place is ready for you",
    Notification.Kind.ENROLLMENT_REMOVED: "An update about one of your groups",
    Notification.Kind.INVITED: "You have been invited to join a group on Hearth",
    Notification.Kind.REPORT_NEEDS_REVIEW: "A report needs your attention on Hearth",
    Notification.Kind.REPORT_HANDLED: "Thank you: your report has been handled",
    Notification.Kind.MODERATION_NOTICE: "A message about your Hearth account",
    Notification.Kind.ROOM_OPEN: "A session you lead is opening",
    Notification.Kind.CRISIS_ALERT: "Someone in your group may need support",
}
# A notification's code may make it more pressing; still nothing of the group or the words.
URGENT_SUBJECTS = {
    (Notification.Kind.REPORT_NEEDS_REVIEW, "urgent"): "Urgent: a report needs your attention "
    "on Hearth",
}


def subject_for(notification: Notification) -> str:
    kind = Notification.Kind(notification.kind)
    return URGENT_SUBJECTS.get((kind, notification.code)) or SUBJECTS[kind]


@shared_task(name="accounts.tasks.purge_expired_sessions")
@periodic("accounts.purge_expired_sessions")
def purge_expired_sessions() -> int:
    """Delete login sessions past their expiry (safe to run twice: deleting is idempotent).

    The rows alone: a copy the session store keeps in the cache expires with its login."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted


@shared_task(
    name="accounts.tasks.send_notification",
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_notification(notification_id: int) -> bool:
    """Send one notification's email, at most once: the row is claimed before sending."""
    claimed = Notification.objects.filter(pk=notification_id, sent_at__isnull=True).update(
        sent_at=timezone.now()
    )
    if not claimed:
        return False
    notification = Notification.objects.select_related("recipient").get(pk=notification_id)
    recipient = notification.recipient
    address = recipient.email if recipient is not None else notification.email
    if not address or (recipient is not None and not recipient.is_active):
        return False
    # Times in the email are shown in the recipient's zone (templates use the active zone).
    zone = ZoneInfo(recipient.time_zone if recipient is not None and recipient.time_zone else "UTC")
    with timezone.override(zone):
        body = render_to_string(
            f"emails/{notification.kind}.txt",
            {"notification": notification, "recipient": recipient, "site_url": settings.SITE_URL},
        )
    try:
        send_mail(
            settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject_for(notification),
            body,
            None,
            [address],
        )
    except OSError:
        # Not sent: release the claim so the retry can take it again.
        Notification.objects.filter(pk=notification_id).update(sent_at=None)
        raise
    return True
