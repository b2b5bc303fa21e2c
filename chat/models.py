"""The live room of a session: its messages in order, who is in it, and the facilitator's
decisions about it. The database is the truth; sockets are only the fast path."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.text import LengthLimit, length_check
from groups.models import GroupSession, TherapyGroup

MAX_BODY = 2000
MAX_NOTICE = 500


class Room(models.Model):
    """One session's room. Its row is the lock under which message positions are allocated."""

    session = models.OneToOneField(
        GroupSession, on_delete=models.CASCADE, primary_key=True, related_name="room"
    )
    last_position = models.BigIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True, help_text="No new entries while set.")
    pinned_notice = models.CharField(max_length=MAX_NOTICE, blank=True)

    def __str__(self) -> str:
        return f"Room of session {self.session_id}"


class Participant(models.Model):
    """A person in one session's room. Its id is their handle there: it says nothing about
    them elsewhere, so rooms cannot be linked to each other through it."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=40, help_text="The name shown in this room.")
    is_facilitator = models.BooleanField(default=False)
    muted_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="participant_once_per_room")
        ]

    def __str__(self) -> str:
        return f"{self.name} in session {self.session_id}"


class Message(models.Model):
    """A message, at its position in the room: positions increase in commit order."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="messages")
    position = models.BigIntegerField()
    author = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="messages", null=True, blank=True
    )
    body = models.TextField(
        blank=True,
        help_text="Emptied when the transcript expires.",
        validators=[LengthLimit(MAX_BODY, "Messages")],
    )
    client_id = models.UUIDField(null=True, blank=True)
    before_start = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True, help_text="When the body was deleted.")

    class Meta:
        ordering = ["session", "position"]
        constraints = [
            models.UniqueConstraint(fields=["session", "position"], name="message_unique_position"),
            models.UniqueConstraint(
                fields=["author", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="message_idempotent_client_id",
            ),
            models.CheckConstraint(
                condition=models.Q(position__gte=1), name="message_position_positive"
            ),
            length_check("body", MAX_BODY, name="message_body_length"),
        ]

    def __str__(self) -> str:
        return f"Message {self.position} in session {self.session_id}"


class Attendance(models.Model):
    """One connection of a person to a room: when it opened, was last seen, and closed.

    Open rows seen recently are the room's presence; rows of a process that died go stale and
    drop out by themselves.
    """

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="attendance")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="attendance"
    )
    channel_name = models.CharField(max_length=200)
    joined_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["session", "left_at", "last_seen_at"])]
        constraints = [
            models.UniqueConstraint(fields=["channel_name"], name="attendance_one_row_per_socket")
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} {self.joined_at:%H:%M} to {self.left_at or 'now'}"


class HiddenAuthor(models.Model):
    """ "Mute for me": ``owner`` no longer sees ``hidden_user``'s messages in this group."""

    group = models.ForeignKey(TherapyGroup, on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    hidden_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["group", "owner", "hidden_user"], name="hiddenauthor_once"
            ),
            models.CheckConstraint(
                condition=~models.Q(owner=models.F("hidden_user")), name="hiddenauthor_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.owner_id} hides {self.hidden_user_id} in {self.group_id}"
