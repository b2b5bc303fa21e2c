"""Moderation and safety records: the append-only audit log and the crisis lines."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from django.conf import settings
from django.db import models

from accounts.text import LengthLimit, length_check

# Limits of what people write here (the forms, the services and the database hold to them).
NOTE_MAX = 2000
DECISION_REASON_MAX = 300


class AuditAction(models.TextChoices):
    """Every privileged or security-relevant action, by a stable dotted name.

    Names are stored in rows that can never change: add new ones, never rename or reuse one.
    """

    ACCOUNT_SIGNED_UP = "account.signed_up", "Signed up"
    ACCOUNT_LOGIN_SUCCEEDED = "account.login_succeeded", "Logged in"
    ACCOUNT_LOGIN_FAILED = "account.login_failed", "Login failed"
    ACCOUNT_LOGGED_OUT = "account.logged_out", "Logged out"
    ACCOUNT_MFA_ENABLED = "account.mfa_enabled", "Two-step login turned on"
    ACCOUNT_MFA_DISABLED = "account.mfa_disabled", "Two-step login turned off"
    ACCOUNT_PROFILE_CHANGED = "account.profile_changed", "Profile changed"
    ACCOUNT_CALENDAR_FEED_RESET = "account.calendar_feed_reset", "Calendar address replaced"
    ACCOUNT_ROLE_GRANTED = "account.role_granted", "Role granted"
    ACCOUNT_ROLE_REVOKED = "account.role_revoked", "Role revoked"
    THERAPIST_APPLIED = "therapist.applied", "Applied to be a therapist"
    THERAPIST_VERIFIED = "therapist.verified", "Therapist verified"
    THERAPIST_REJECTED = "therapist.rejected", "Therapist application rejected"
    GUIDELINES_PUBLISHED = "guidelines.published", "Guidelines published"
    GUIDELINES_ACCEPTED = "guidelines.accepted", "Guidelines accepted"
    GROUP_CREATED = "group.created", "Group created"
    GROUP_EDITED = "group.edited", "Group edited"
    GROUP_ARCHIVED = "group.archived", "Group archived"
    FACILITATOR_RIGHTS_GRANTED = "group.facilitator_rights_granted", "Facilitator rights granted"
    FACILITATOR_RIGHTS_REVOKED = "group.facilitator_rights_revoked", "Facilitator rights revoked"
    SESSION_SCHEDULED = "session.scheduled", "Session scheduled"
    SESSION_RESCHEDULED = "session.rescheduled", "Session moved"
    SESSION_CANCELLED = "session.cancelled", "Session cancelled"
    SESSION_EXTENDED = "session.extended", "Session extended"
    SESSION_ENDED = "session.ended", "Session ended by the facilitator"
    SESSION_CLOSED = "session.closed", "Session's room closed at its end"
    ROOM_MEMBER_MUTED = "room.member_muted", "Member muted in a room"
    ROOM_MEMBER_UNMUTED = "room.member_unmuted", "Member unmuted in a room"
    ROOM_MEMBER_REMOVED = "room.member_removed", "Member removed from a room"
    ROOM_LOCKED = "room.locked", "Room locked"
    ROOM_UNLOCKED = "room.unlocked", "Room unlocked"
    ROOM_MESSAGE_HIDDEN = "room.message_hidden", "Message hidden by a facilitator"
    ROOM_NOTICE_PINNED = "room.notice_pinned", "Notice pinned"
    ROOM_PAUSED = "room.paused", "New messages paused"
    ROOM_RESUMED = "room.resumed", "Pause ended by the facilitator"
    ROOM_FLOOR_GIVEN = "room.floor_given", "Floor given to a member"
    ROOM_HANDS_LOWERED = "room.hands_lowered", "Raised hands lowered by the facilitator"
    ROUND_STARTED = "round.started", "Round started"
    ROUND_REORDERED = "round.reordered", "Order of a round changed"
    ROUND_TURN_SKIPPED = "round.turn_skipped", "Turn in a round skipped"
    ROUND_ENDED = "round.ended", "Round ended by the facilitator"
    ENROLLMENT_CREATED = "enrollment.created", "Enrolled or joined the waiting list"
    ENROLLMENT_WITHDRAWN = "enrollment.withdrawn", "Left a group or its waiting list"
    ENROLLMENT_REMOVED = "enrollment.removed", "Removed from a group"
    ENROLLMENT_PROMOTED = "enrollment.promoted", "Given a place from the waiting list"
    INVITATION_SENT = "invitation.sent", "Invitation sent"
    INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
    INVITATION_DECLINED = "invitation.declined", "Invitation declined"
    INVITATION_REVOKED = "invitation.revoked", "Invitation withdrawn"
    TRANSCRIPTS_PURGED = "retention.transcripts_purged", "Expired transcripts deleted"
    NOTES_PURGED = "retention.notes_purged", "Expired facilitator notes deleted"
    NOTE_CREATED = "note.created", "Facilitator note written"
    NOTE_UPDATED = "note.updated", "Facilitator note changed"
    NOTES_READ = "note.read", "Facilitator notes read"
    ATTENDANCE_READ = "attendance.read", "Attendance records read"
    ATTENDANCE_EXPORTED = "attendance.exported", "Attendance records downloaded"
    CHECKOUTS_READ = "checkout.read", "Check-out answers read"
    CHECKOUTS_PURGED = "retention.checkouts_purged", "Expired check-out answers deleted"
    ACCOUNT_ERASED = "account.erased", "Account erased at the person's request"
    DATA_EXPORTED = "account.data_exported", "Personal data downloaded"
    AUDIT_EXPORTED = "audit.exported", "Audit log exported"
    CRISIS_SIGNAL = "safety.crisis_signal", "Possible crisis noticed in a message"
    REPORT_FILED = "report.filed", "Report filed"
    REPORT_OPENED = "report.opened", "Report opened"
    REPORT_DISMISSED = "report.dismissed", "Report dismissed"
    REPORT_ESCALATED = "report.escalated", "Report escalated to staff"
    REPORT_RESOLVED = "report.resolved", "Report resolved with an action"
    MEMBER_WARNED = "moderation.member_warned", "Member warned"
    SANCTION_APPLIED = "moderation.sanction_applied", "Sanction applied"
    SANCTION_LIFTED = "moderation.sanction_lifted", "Sanction lifted"
    ADMIN_OBJECT_ADDED = "admin.object_added", "Added in the admin"
    ADMIN_OBJECT_CHANGED = "admin.object_changed", "Changed in the admin"
    ADMIN_OBJECT_DELETED = "admin.object_deleted", "Deleted in the admin"


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit row."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be changed.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")

    def bulk_update(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be changed.")


class AuditEvent(models.Model):
    """One privileged or security-relevant action. Append-only, at every layer.

    ``details`` holds ids and codes only, never message text or other health information
    (``moderation.audit.audit_record`` enforces it). On PostgreSQL a trigger rejects UPDATE
    and DELETE on the table, so not even raw SQL can rewrite history.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who acted; empty for the system or an anonymous visitor.",
    )
    action = models.CharField(max_length=64, choices=AuditAction.choices)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    group_id = models.BigIntegerField(null=True, blank=True)
    session_id = models.BigIntegerField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["actor", "created_at"]),
            models.Index(fields=["action", "created_at"]),
            models.Index(fields=["target_type", "target_id"]),
            models.Index(fields=["group_id", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id or 'system'} at {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")


class CrisisLine(models.Model):
    """A place to get help now, shown on the "Get help now" page. Edited by staff."""

    INTERNATIONAL = "ZZ"

    country = models.CharField(
        max_length=2,
        help_text='ISO 3166 two-letter code (such as "GB"), or "ZZ" for lines that serve anywhere.',
    )
    name = models.CharField(max_length=120)
    phone = models.CharField(max_length=40, blank=True)
    text = models.CharField(max_length=80, blank=True, help_text="How to reach it by text message.")
    website = models.URLField(blank=True)
    hours = models.CharField(max_length=80, blank=True, help_text='Such as "24 hours, every day".')
    description = models.CharField(max_length=300, blank=True)
    sort_order = models.PositiveSmallIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["country", "sort_order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["country", "name"], name="crisisline_unique_name"),
            models.CheckConstraint(
                condition=~models.Q(phone="", text="", website=""),
                name="crisisline_has_a_way_to_reach_it",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.country})"


class Report(models.Model):
    """Someone's concern about a message or a member. The reported person never learns who."""

    class Reason(models.TextChoices):
        HARASSMENT = "harassment", "Harassment or bullying"
        PERSONAL_DETAILS = "personal_details", "Sharing someone's personal details"
        SPAM = "spam", "Spam or selling"
        DANGER = "danger", "Someone may be in danger"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Waiting for review"
        ESCALATED = "escalated", "With staff"
        CLOSED = "closed", "Handled"

    class Outcome(models.TextChoices):
        DISMISSED = "dismissed", "No action needed"
        MESSAGE_HIDDEN = "message_hidden", "Message hidden"
        WARNED = "warned", "Member warned"
        MUTED = "muted", "Member muted in the group"
        REMOVED = "removed", "Member removed from the group"
        SUSPENDED = "suspended", "Account suspended"

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    group = models.ForeignKey(
        "groups.TherapyGroup", on_delete=models.PROTECT, related_name="reports"
    )
    session = models.ForeignKey(
        "groups.GroupSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    message = models.ForeignKey(
        "chat.Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="reports"
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The person the report is about.",
    )
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.TextField(
        blank=True,
        help_text="The reporter's own words (optional).",
        validators=[LengthLimit(NOTE_MAX, "Notes")],
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    decision_reason = models.CharField(max_length=DECISION_REASON_MAX, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["group", "status"]),
            models.Index(fields=["status", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="closed") | ~models.Q(outcome=""),
                name="report_closed_has_outcome",
            ),
            length_check("note", NOTE_MAX, name="report_note_length"),
        ]

    def __str__(self) -> str:
        return f"Report {self.pk} ({self.get_status_display()})"

    @property
    def is_urgent(self) -> bool:
        """Someone may be in danger: reviewed before anything else."""
        return self.reason == self.Reason.DANGER


class Sanction(models.Model):
    """A scoped, timed restriction. Its effect is a fact other apps already honour
    (Enrollment.muted_until, User.suspended_until), so it lifts itself when its time is up."""

    class Kind(models.TextChoices):
        GROUP_MUTE = "group_mute", "Muted in a group"
        SUSPENSION = "suspension", "Account suspended"

    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    group = models.ForeignKey(
        "groups.TherapyGroup", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty means permanent.")
    reason = models.CharField(max_length=DECISION_REASON_MAX)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    report = models.ForeignKey(
        Report, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="group_mute")
                | models.Q(group__isnull=False, ends_at__isnull=False),
                name="sanction_group_mute_is_scoped_and_timed",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_at__isnull=True)
                | models.Q(ends_at__gt=models.F("starts_at")),
                name="sanction_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.subject_id}"

    def is_active_at(self, now: datetime) -> bool:
        return (
            self.lifted_at is None
            and self.starts_at <= now
            and (self.ends_at is None or self.ends_at > now)
        )
