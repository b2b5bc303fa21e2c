"""The live room of a session: its messages in order, who is in it, and the facilitator's
decisions about it. The database is the truth; sockets are only the fast path."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.text import LengthLimit, length_check
from groups.models import GroupSession, TherapyGroup

MAX_BODY = 2000
MAX_NOTICE = 500
MAX_PAUSE_NOTE = 200
MAX_PROMPT = 200


class Room(models.Model):
    """One session's room. Its row is the lock under which message positions are allocated."""

    session = models.OneToOneField(
        GroupSession, on_delete=models.CASCADE, primary_key=True, related_name="room"
    )
    last_position = models.BigIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True, help_text="No new entries while set.")
    pinned_notice = models.CharField(max_length=MAX_NOTICE, blank=True)
    # The pause (chat.services.floor): no new messages from members while paused_at is set and
    # pause_ends_at is empty or still ahead. Every check compares with now: no timer ends it.
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_ends_at = models.DateTimeField(null=True, blank=True)
    pause_note = models.CharField(max_length=MAX_PAUSE_NOTE, blank=True)
    # Who the facilitator last gave the floor to from the raised hands (a signal, not a gate).
    floor_participant = models.ForeignKey(
        "Participant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Raised by one at every change of the pause, the hands or a round, under this row's lock:
    # clients drop a state event older than the one they hold.
    floor_version = models.BigIntegerField(default=0)

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


class RaisedHand(models.Model):
    """A member's raised hand in one session's room, until lowered or given the floor."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="+")
    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="+")
    raised_at = models.DateTimeField()

    class Meta:
        ordering = ["raised_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "participant"], name="raisedhand_once")
        ]

    def __str__(self) -> str:
        return f"{self.participant_id} raised a hand at {self.raised_at:%H:%M}"


class Round(models.Model):
    """A round: everyone present takes the floor in turn, on a prompt (check-in, check-out or
    the facilitator's own words). While it runs only the person whose turn it is (and the
    facilitators) may send."""

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="rounds")
    prompt = models.CharField(max_length=MAX_PROMPT)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session"],
                condition=models.Q(ended_at__isnull=True),
                name="round_one_running_per_session",
            )
        ]

    def __str__(self) -> str:
        return f"Round {self.pk} in session {self.session_id}"


class RoundTurn(models.Model):
    """One person's turn in a round, at its place in the order, and what became of it."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        CURRENT = "current", "Has the floor"
        SPOKEN = "spoken", "Spoke"
        PASSED = "passed", "Passed"
        SKIPPED = "skipped", "Skipped by the facilitator"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="turns")
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="round_turns"
    )
    position = models.PositiveIntegerField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.WAITING)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round", "position"]
        constraints = [
            models.UniqueConstraint(fields=["round", "participant"], name="roundturn_once"),
            models.UniqueConstraint(
                fields=["round", "position"],
                name="roundturn_unique_position",
                deferrable=models.Deferrable.DEFERRED,  # reordering swaps positions
            ),
            models.UniqueConstraint(
                fields=["round"],
                condition=models.Q(state="current"),
                name="roundturn_one_current",
            ),
        ]

    def __str__(self) -> str:
        return f"Turn {self.position} of round {self.round_id}: {self.state}"
