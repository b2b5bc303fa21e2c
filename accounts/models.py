"""People, their roles, therapist credentials and the code of conduct they accept."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.places import COUNTRIES, validate_time_zone
from accounts.pseudonyms import MAX_LENGTH, validate_display_name
from accounts.roles import Role
from accounts.text import LengthLimit, length_check

# Limits of what people write here (the forms, the services and the database hold to them).
LICENCE_NUMBER_MAX = 64
ISSUING_BODY_MAX = 200
JURISDICTION_MAX = 120
APPLICATION_REASON_MAX = 2000
GUIDELINES_MAX = 20_000


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


# Where accounts.policy keeps a person's roles and whether they hold any object right, loaded
# together in one query: (frozenset of roles, bool).
PRIVILEGES = "_hearth_privileges"
# Where the login's one query (accounts.backends) leaves whether the person has a second factor
# (bool) and where they stand with the guidelines ("accepted", "first" or "update"), so that
# the policy and the page ask nothing more during the request.
SECOND_FACTOR = "_hearth_second_factor"
GUIDELINES_STANDING = "_hearth_guidelines_standing"


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Others only ever see ``display_name``; never the email, never a real name.

    Rows are never deleted: erasure anonymises the row (a tombstone) so that audit events
    which point at it stay valid.
    """

    email = models.EmailField(blank=True)
    display_name = models.CharField(
        max_length=MAX_LENGTH,
        validators=[validate_display_name],
        help_text="The name others see. It must not identify you.",
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    country = models.CharField(max_length=2, blank=True, choices=COUNTRIES)
    is_staff = models.BooleanField(
        default=False, help_text="Can use the admin. Granted with the staff role only."
    )
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    suspended_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="While set and in the future, the person cannot enroll or take part.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["display_name"]

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="user_email_unique_ci"
            ),
            models.UniqueConstraint(Lower("display_name"), name="user_display_name_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.display_name or f"Person {self.pk}"

    @cached_property
    def roles(self) -> frozenset[Role]:
        """The roles this person holds (one query, then cached on the instance; none when the
        login policy has loaded them with the person's other privileges)."""
        if self.pk is None:
            return frozenset()
        if (privileges := getattr(self, PRIVILEGES, None)) is not None:
            return privileges[0]
        names = set(self.groups.values_list("name", flat=True))
        return frozenset(role for role in Role if role.value in names)

    @property
    def is_suspended(self) -> bool:
        return self.suspended_until is not None and self.suspended_until > timezone.now()

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        super().refresh_from_db(*args, **kwargs)
        self.__dict__.pop("roles", None)
        for loaded in (PRIVILEGES, SECOND_FACTOR, GUIDELINES_STANDING):
            self.__dict__.pop(loaded, None)

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    @property
    def requires_mfa(self) -> bool:
        """A privileged role or flag, or any right on another's things (accounts.policy)."""
        from accounts.policy import requires_mfa

        return requires_mfa(self)


class TherapistApplication(models.Model):
    """A request to act as a therapist, with the credentials staff check before verifying."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Not approved"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="therapist_applications"
    )
    licence_number = models.CharField(max_length=LICENCE_NUMBER_MAX)
    issuing_body = models.CharField(
        max_length=ISSUING_BODY_MAX, help_text="The body that issued the licence or registration."
    )
    jurisdiction = models.CharField(
        max_length=JURISDICTION_MAX,
        help_text="Country, state or region where the licence is valid.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    submitted_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decision_reason = models.TextField(
        blank=True, validators=[LengthLimit(APPLICATION_REASON_MAX, "Reasons")]
    )

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(status="pending"),
                name="therapistapplication_one_pending_per_user",
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", decided_at__isnull=True)
                | (~models.Q(status="pending") & models.Q(decided_at__isnull=False)),
                name="therapistapplication_decided_has_time",
            ),
            length_check(
                "decision_reason",
                APPLICATION_REASON_MAX,
                name="therapistapplication_decision_reason_length",
            ),
        ]

    def __str__(self) -> str:
        return f"Application {self.pk} ({self.get_status_display()})"


class GuidelinesVersion(models.Model):
    """One version of the code of conduct. Publishing a new one asks everyone to accept again."""

    version = models.PositiveIntegerField(unique=True)
    body = models.TextField(
        help_text="Plain text. Blank lines separate paragraphs.",
        validators=[LengthLimit(GUIDELINES_MAX, "Guidelines")],
    )
    summary_of_changes = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        verbose_name = "guidelines version"
        constraints = [length_check("body", GUIDELINES_MAX, name="guidelinesversion_body_length")]

    def __str__(self) -> str:
        state = "published" if self.published_at else "draft"
        return f"Guidelines v{self.version} ({state})"


class GuidelinesAcceptance(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guidelines_acceptances"
    )
    version = models.ForeignKey(
        GuidelinesVersion, on_delete=models.PROTECT, related_name="acceptances"
    )
    accepted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "version"], name="guidelinesacceptance_once_per_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} accepted v{self.version_id}"


class Notification(models.Model):
    """An email a person is owed: written in the transaction that causes it, sent after commit.

    The row is the outbox and the record: a task claims it (``sent_at`` from empty to now) so it
    is sent at most once, and it names what happened by ids, never by content.
    """

    class Kind(models.TextChoices):
        SESSION_CANCELLED = "session_cancelled", "A session was cancelled"
        SESSION_RESCHEDULED = "session_rescheduled", "A session was moved"
        WAITLIST_PROMOTED = "waitlist_promoted", "A place became free"
        ENROLLMENT_REMOVED = "enrollment_removed", "Removed from a group"
        INVITED = "invited", "Invited to a group"
        REPORT_NEEDS_REVIEW = "report_needs_review", "A report needs review"
        REPORT_HANDLED = "report_handled", "Your report was handled"
        MODERATION_NOTICE = "moderation_notice", "A moderation decision about you"
        ROOM_OPEN = "room_open", "A room you lead is open"
        CRISIS_ALERT = "crisis_alert", "Someone in your group may need support"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    email = models.EmailField(blank=True, help_text="For invitations to people without an account.")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    group_id = models.BigIntegerField(null=True, blank=True)
    session_id = models.BigIntegerField(null=True, blank=True)
    object_id = models.BigIntegerField(null=True, blank=True)
    code = models.CharField(
        max_length=32, blank=True, help_text="What happened, as a short code the email explains."
    )
    until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["sent_at", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(recipient__isnull=False) | ~models.Q(email=""),
                name="notification_has_an_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.recipient_id or 'an invitee'}"


class JobRun(models.Model):
    """The last successful run of each periodic job, for the health endpoint."""

    name = models.CharField(max_length=100, unique=True)
    last_success_at = models.DateTimeField()
    last_result = models.BigIntegerField(default=0, help_text="What the run counted (ids only).")

    def __str__(self) -> str:
        return f"{self.name} at {self.last_success_at:%Y-%m-%d %H:%M}"
