"""The personal calendar feed's secret address."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User
from groups.models import CalendarFeed
from groups.services._common import _require_active
from moderation.audit import AuditAction, audit_record


def calendar_feed_get_or_create(*, actor: User) -> CalendarFeed:
    feed, _ = CalendarFeed.objects.get_or_create(user=actor)
    return feed


def calendar_feed_reset(*, actor: User) -> CalendarFeed:
    """Give the feed a new secret address; the old one stops working at once."""
    _require_active(actor)
    with transaction.atomic():
        feed = calendar_feed_get_or_create(actor=actor)
        feed.token = CalendarFeed._meta.get_field("token").get_default()
        feed.save(update_fields=["token"])
        audit_record(actor=actor, action=AuditAction.ACCOUNT_CALENDAR_FEED_RESET, target=feed)
    return feed


def calendar_feed_set_group_names(*, actor: User, include: bool) -> CalendarFeed:
    """Choose whether event titles name the group (they never name its topic)."""
    _require_active(actor)
    feed = calendar_feed_get_or_create(actor=actor)
    if feed.include_group_names != include:
        feed.include_group_names = include
        feed.save(update_fields=["include_group_names"])
    return feed
