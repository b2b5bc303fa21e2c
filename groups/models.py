"""Groups, their scheduled sessions, who is enrolled, and invitations to closed groups."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from accounts.places import validate_time_zone
from accounts.pseudonyms import MAX_LENGTH, validate_display_name
from accounts.text import LengthLimit, length_check

MIN_SESSION = timedelta(minutes=15)
MAX_SESSION = timedelta(hours=4)
MAX_EXTENSION = timedelta(minutes=15)
# A session still under way started at most this long ago: the longest one, extended once.
LONGEST_RUN = MAX_SESSION + MAX_EXTENSION

# Limits of what people write here (the forms, the services and the database hold to them).
TITLE_MAX = 120
DESCRIPTION_MAX = 2000
AGREEMENT_MAX = 2000
REASON_MAX = 300

LANGUAGES = (
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("de", "German"),
    ("nl", "Dutch"),
    ("pt", "Portuguese"),
    ("it", "Italian"),
    ("pl", "Polish"),
)


class Topic(models.Model):
    """What a group is about (anxiety, grief, …). Staff keep the list."""

    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    sort_order = models.PositiveSmallIntegerField(default=100)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class TherapyGroup(models.Model):
    """A group that meets at set times, led by a facilitator. Never deleted: archived."""

    class Kind(models.TextChoices):
        THERAPY = "therapy", "Therapy group"
        SUPPORT = "support", "Support group"
        PEER_SUPERVISION = "peer_supervision", "Peer supervision"

    title = models.CharField(max_length=TITLE_MAX)
    slug = models.SlugField(max_length=140, unique=True)
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="groups")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SUPPORT)
    description = models.TextField(validators=[LengthLimit(DESCRIPTION_MAX, "Descriptions")])
    agreement = models.TextField(
        blank=True,
        help_text="The group's own rules, on top of the guidelines.",
        validators=[LengthLimit(AGREEMENT_MAX, "Group agreements")],
    )
    facilitator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="facilitated_groups"
    )
    co_facilitators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="co_facilitated_groups"
    )
    capacity = models.PositiveSmallIntegerField(default=10)
    language = models.CharField(max_length=8, choices=LANGUAGES, default="en")
    is_listed = models.BooleanField(default=True, help_text="Shown in the directory.")
    is_closed = models.BooleanField(default=False, help_text="Joined by invitation only.")
    time_zone = models.CharField(
        max_length=64, default="Europe/London", validators=[validate_time_zone]
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    transcript_retention_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="Days after each session before its messages are deleted (1 to 365).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # What the directory sorts and filters on, kept on the row so that its first page reads
    # twenty rows in index order instead of working out every group's next session. Written
    # by the services that change sessions or places, with this row locked (see
    # groups.services.listing). The next session is the first by start of those not
    # cancelled and not over (one under way counts until it closes). The clock makes it stale
    # without any write, once it closes: readers work it out again for a row whose
    # ``next_session_closes_at`` has passed, and the ``groups.advance_next_sessions`` sweep
    # moves such rows on.
    next_session_starts_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_session_closes_at = models.DateTimeField(null=True, blank=True, editable=False)
    seats_taken = models.PositiveSmallIntegerField(
        default=0, editable=False, help_text="Active enrollments."
    )

    class Meta:
        ordering = ["title"]
        permissions = [
            ("facilitate_group", "Facilitate the group and its live room"),
            ("view_roster", "See the group's members"),
            ("manage_sessions", "Schedule, move and cancel the group's sessions"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(capacity__gte=2, capacity__lte=50), name="group_capacity_range"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    transcript_retention_days__gte=1, transcript_retention_days__lte=365
                ),
                name="group_retention_range",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="peer_supervision") | models.Q(is_closed=True),
                name="group_peer_supervision_is_closed",
            ),
            length_check("description", DESCRIPTION_MAX, name="group_description_length"),
            length_check("agreement", AGREEMENT_MAX, name="group_agreement_length"),
            models.CheckConstraint(
                condition=models.Q(
                    next_session_starts_at__isnull=True, next_session_closes_at__isnull=True
                )
                | models.Q(
                    next_session_starts_at__isnull=False, next_session_closes_at__isnull=False
                ),
                name="group_next_session_start_and_close",
            ),
        ]
        indexes = [
            models.Index(fields=["is_listed", "archived_at"]),
            # The directory's order (the next session first, none last), listed groups only.
            models.Index(
                fields=["next_session_starts_at", "title", "id"],
                condition=models.Q(is_listed=True, archived_at__isnull=True),
                name="group_directory_order",
            ),
            # The directory's count, read from the index alone: every column its filters (but
            # the words and the day) and the visibility rule test, for listed groups only.
            models.Index(
                fields=["kind", "language", "topic"],
                include=[
                    "id",
                    "capacity",
                    "seats_taken",
                    "next_session_closes_at",
                    "is_listed",
                    "archived_at",
                ],
                condition=models.Q(is_listed=True, archived_at__isnull=True),
                name="group_directory_filters",
            ),
            # Rows whose next session has closed: the sweep's work, and what readers recompute.
            models.Index(fields=["next_session_closes_at"], name="group_next_session_closes"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class TherapyGroupUserObjectPermission(UserObjectPermissionBase):
    """guardian's per-object rights with a real foreign key (joins instead of string ids)."""

    content_object = models.ForeignKey(TherapyGroup, on_delete=models.CASCADE)


class TherapyGroupGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(TherapyGroup, on_delete=models.CASCADE)


class SessionSeries(models.Model):
    """A recurrence rule, in the group's time zone, that produced some of its sessions."""

    group = models.ForeignKey(TherapyGroup, on_delete=models.CASCADE, related_name="series")
    rule = models.CharField(
        max_length=200, help_text="An RFC 5545 RRULE, such as FREQ=WEEKLY;COUNT=8"
    )
    # Wall-clock time in ``time_zone``: the instant of each session follows the zone's rules.
    first_date = models.DateField()
    start_time = models.TimeField()
    duration_minutes = models.PositiveSmallIntegerField()
    time_zone = models.CharField(max_length=64, validators=[validate_time_zone])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "session series"

    def __str__(self) -> str:
        return f"{self.rule} from {self.first_date} {self.start_time:%H:%M} ({self.time_zone})"


class GroupSessionQuerySet(models.QuerySet["GroupSession"]):
    def not_over(self, now: datetime) -> GroupSessionQuerySet:
        """Sessions that have not ended. The bound on the start lets the (group, starts_at) and
        starts_at indexes skip the whole past instead of walking it to test each end.

        The bound is worked out by the database from ``now``, so that ``now`` is the query's
        only value and a baked query (``config.baked``) can run it with each request's.
        """
        earliest_start = models.ExpressionWrapper(
            models.Value(now, models.DateTimeField())
            - models.Value(LONGEST_RUN, models.DurationField()),
            output_field=models.DateTimeField(),
        )
        return self.filter(ends_at__gt=now, starts_at__gt=earliest_start)

    def upcoming(self, now: datetime) -> GroupSessionQuerySet:
        """Sessions still to come or under way: not cancelled, not ended, not closed early. A
        group's first of these by start is its next session."""
        return (
            self.not_over(now)
            .filter(cancelled_at__isnull=True)
            .filter(models.Q(closed_at__isnull=True) | models.Q(closed_at__gt=now))
        )


class GroupSession(models.Model):
    """One meeting of a group. Its status is derived from facts and the clock, never stored."""

    class Status(models.TextChoices):
        UPCOMING = "upcoming", "Upcoming"
        OPEN = "open", "Room open"
        LIVE = "live", "Live"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    group = models.ForeignKey(TherapyGroup, on_delete=models.CASCADE, related_name="sessions")
    series = models.ForeignKey(
        SessionSeries, on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    # The lead facilitator at scheduling time: one person cannot lead two sessions at once.
    facilitator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    room_opens_minutes = models.PositiveSmallIntegerField(default=10)
    sequence = models.PositiveIntegerField(default=0, help_text="Calendar revision number.")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=REASON_MAX, blank=True)
    rescheduled_at = models.DateTimeField(null=True, blank=True)
    reschedule_reason = models.CharField(max_length=REASON_MAX, blank=True)
    closed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the room closed: its end, or earlier if the facilitator ended it.",
    )
    opening_notice_at = models.DateTimeField(
        null=True, blank=True, help_text="When the facilitators were told the room opened."
    )
    extended_at = models.DateTimeField(
        null=True, blank=True, help_text="When the facilitator used the session's one extension."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GroupSessionQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="session_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(room_opens_minutes__lte=60),
                name="session_room_opens_within_hour",
            ),
            models.CheckConstraint(
                condition=models.Q(cancelled_at__isnull=True) | ~models.Q(cancel_reason=""),
                name="session_cancel_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["group", "starts_at"]),
            models.Index(fields=["starts_at"]),
            models.Index(fields=["facilitator", "starts_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} at {self.starts_at:%Y-%m-%d %H:%M}"

    @property
    def room_opens_at(self) -> datetime:
        return self.starts_at - timedelta(minutes=self.room_opens_minutes)

    @property
    def closes_at(self) -> datetime:
        """When the room closes: the end, or earlier if the facilitator ended it."""
        return min(self.ends_at, self.closed_at) if self.closed_at else self.ends_at

    def status_at(self, now: datetime) -> GroupSession.Status:
        if self.cancelled_at is not None:
            return self.Status.CANCELLED
        if now >= self.closes_at:
            return self.Status.CLOSED
        if now >= self.starts_at:
            return self.Status.LIVE
        if now >= self.room_opens_at:
            return self.Status.OPEN
        return self.Status.UPCOMING

    @property
    def status(self) -> GroupSession.Status:
        return self.status_at(timezone.now())

    @property
    def room_is_open(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.LIVE)


class Enrollment(models.Model):
    """A person's place in a group (or on its waiting list). One row per person and group."""

    class State(models.TextChoices):
        ACTIVE = "active", "Enrolled"
        WAITLISTED = "waitlisted", "On the waiting list"
        WITHDRAWN = "withdrawn", "Left"
        REMOVED = "removed", "Removed"

    group = models.ForeignKey(TherapyGroup, on_delete=models.CASCADE, related_name="enrollments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrollments"
    )
    state = models.CharField(max_length=12, choices=State.choices)
    waitlist_position = models.PositiveIntegerField(null=True, blank=True)
    pseudonym = models.CharField(
        max_length=MAX_LENGTH,
        validators=[validate_display_name],
        help_text="The name shown in this group only.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    removed_reason = models.CharField(max_length=REASON_MAX, blank=True)
    muted_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Muted in every room of this group until then (set by a moderation sanction).",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="enrollment_one_per_person"),
            models.UniqueConstraint(
                fields=["group", "waitlist_position"],
                condition=models.Q(state="waitlisted"),
                name="enrollment_unique_waitlist_position",
            ),
            models.UniqueConstraint(
                "group",
                Lower("pseudonym"),
                condition=models.Q(state__in=["active", "waitlisted"]),
                name="enrollment_unique_pseudonym_in_group",
            ),
            models.CheckConstraint(
                condition=(models.Q(state="waitlisted") & models.Q(waitlist_position__isnull=False))
                | (~models.Q(state="waitlisted") & models.Q(waitlist_position__isnull=True)),
                name="enrollment_waitlist_position_iff_waitlisted",
            ),
        ]
        indexes = [models.Index(fields=["user", "state"]), models.Index(fields=["group", "state"])]

    def __str__(self) -> str:
        return f"{self.pseudonym} in {self.group_id} ({self.state})"

    @property
    def is_muted(self) -> bool:
        """Muted in this group's rooms now (by a moderation sanction)."""
        return self.muted_until is not None and self.muted_until > timezone.now()


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


def _invitation_expiry() -> datetime:
    return timezone.now() + timedelta(days=14)


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self, now: datetime) -> InvitationQuerySet:
        """Not yet answered, withdrawn or expired."""
        return self.filter(
            accepted_at__isnull=True,
            declined_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        )

    def addressed_to(self, user: models.Model) -> InvitationQuerySet:
        """Sent to this person, or to their email address before they had an account."""
        addressed = models.Q(invitee=user)
        email = getattr(user, "email", "")
        if email:
            addressed |= models.Q(invitee__isnull=True, email__iexact=email)
        return self.filter(addressed)


class Invitation(models.Model):
    """A single-use invitation to a closed group, to a person or to an email address."""

    group = models.ForeignKey(TherapyGroup, on_delete=models.CASCADE, related_name="invitations")
    invitee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="invitations",
    )
    email = models.EmailField(blank=True)
    token = models.CharField(max_length=64, unique=True, default=_invitation_token, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(invitee__isnull=False) | ~models.Q(email=""),
                name="invitation_has_an_invitee",
            ),
            models.CheckConstraint(
                condition=models.Q(accepted_at__isnull=True) | models.Q(declined_at__isnull=True),
                name="invitation_not_both_accepted_and_declined",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation {self.pk} to {self.group_id}"

    def is_pending_at(self, now: datetime) -> bool:
        return (
            self.accepted_at is None
            and self.declined_at is None
            and self.revoked_at is None
            and self.expires_at > now
        )


def _feed_token() -> str:
    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A person's secret calendar address. Replacing the token revokes the old address."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=_feed_token)
    include_group_names = models.BooleanField(
        default=False,
        help_text="Show group titles in event names (others may see your calendar).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Calendar feed of {self.user_id}"


def _unsubscribe_token() -> str:
    return secrets.token_urlsafe(32)


class ReminderPreference(models.Model):
    """Which reminders a person wants. No row means the defaults (both on)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminder_preference"
    )
    day_before = models.BooleanField(default=True, help_text="24 hours before each session.")
    quarter_hour = models.BooleanField(default=True, help_text="15 minutes before each session.")
    unsubscribe_token = models.CharField(max_length=64, unique=True, default=_unsubscribe_token)

    def __str__(self) -> str:
        return f"Reminder choices of {self.user_id}"

    def wants(self, lead_minutes: int) -> bool:
        return self.day_before if lead_minutes == Reminder.Lead.DAY else self.quarter_hour


class Reminder(models.Model):
    """One reminder owed to one person for one session at one lead time. The unique constraint
    makes it exist once; the sweep claims it with SKIP LOCKED so it is sent once."""

    class Lead(models.IntegerChoices):
        DAY = 24 * 60, "24 hours before"
        QUARTER = 15, "15 minutes before"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="reminders")
    lead_minutes = models.PositiveIntegerField(choices=Lead.choices)
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "session", "lead_minutes"],
                name="reminder_once_per_person_session_lead",
            )
        ]
        indexes = [
            models.Index(
                fields=["due_at"],
                condition=models.Q(sent_at__isnull=True, skipped_at__isnull=True),
                name="reminder_pending_due",
            )
        ]

    def __str__(self) -> str:
        return f"Reminder {self.lead_minutes} min for session {self.session_id} to {self.user_id}"


class FinderAnswers(models.Model):
    """The answers a person asked us to keep for "Find a group that fits" (and only then)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="finder_answers"
    )
    answers = models.JSONField(default=dict)
    kept_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "finder answers"

    def __str__(self) -> str:
        return f"Finder answers of {self.user_id}"


NOTE_MAX = 4000


class SessionNote(models.Model):
    """A facilitator's private note on a session, or on one member in it.

    Read only by the group's facilitators (every read is an audit event), never by members nor
    in anyone's data export; deleted with the group's transcripts once its retention has passed
    (``moderation.retention.notes_purge``). Health information: logs and audit rows carry its
    id, never its words.
    """

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="notes")
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="The member the note is about; empty for a note on the whole session.",
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField(validators=[LengthLimit(NOTE_MAX, "Notes")])
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["session", "subject"], name="sessionnote_session_subject")]
        constraints = [
            length_check("body", NOTE_MAX, name="sessionnote_body_length"),
            models.CheckConstraint(condition=~models.Q(body=""), name="sessionnote_not_empty"),
        ]

    def __str__(self) -> str:
        return f"Note {self.pk} on session {self.session_id}"


CHECKOUT_WORDS_MAX = 500
# How long after a session's close a member may answer its check-out, or change their answer.
CHECKOUT_WINDOW = timedelta(hours=24)


class CheckOut(models.Model):
    """A member's answer to "How was today for you?" after a session: a five-point scale and,
    if they like, a few words.

    Theirs: in their own data download, erased with their account, deleted with the group's
    transcripts once its retention has passed (``moderation.retention.checkouts_purge``).
    Read by the group's facilitators (every reading is an audit event) and by nobody else.
    Health information: logs and audit rows carry ids, never the words.
    """

    class Feeling(models.IntegerChoices):
        VERY_HARD = 1, "Very hard"
        HARD = 2, "Hard"
        OKAY = 3, "Okay"
        GOOD = 4, "Good"
        VERY_GOOD = 5, "Very good"

    session = models.ForeignKey(GroupSession, on_delete=models.CASCADE, related_name="checkouts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    feeling = models.PositiveSmallIntegerField(choices=Feeling.choices)
    words = models.TextField(
        blank=True, validators=[LengthLimit(CHECKOUT_WORDS_MAX, "A few words")]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["session", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "user"], name="checkout_once_per_session"),
            models.CheckConstraint(
                condition=models.Q(feeling__gte=1, feeling__lte=5), name="checkout_feeling_scale"
            ),
            length_check("words", CHECKOUT_WORDS_MAX, name="checkout_words_length"),
        ]

    def __str__(self) -> str:
        return f"Check-out of {self.user_id} after session {self.session_id}"
