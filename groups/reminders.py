"""Session reminders, sent exactly once by a beat sweep (no far-future ETA tasks).

Each minute the sweep (1) makes the reminder rows that have fallen due — a unique constraint
per person, session and lead time means each exists once, whoever makes it — and (2) claims
due rows in batches with ``SELECT … FOR UPDATE SKIP LOCKED``, re-checks that each is still
wanted, sends the batch and marks it sent in the same transaction. Two sweeps at once take
different rows; a reminder whose session has started is skipped, never sent late.

Exactly once across crashes. Claims are batched (``REMINDER_SEND_BATCH``, 100 by default): one
claim, one set of re-checks and one commit serve a hundred emails. A worker killed after the
mail server accepted some of a batch and before its commit must not send those again, so each
email's id is written to a ledger in the cache (Redis in production) the moment the mail
server accepts it, before the next email goes. A sweep that claims a reminder the ledger holds
marks it sent without sending it. What is left is the instant between the mail server
accepting a message and the worker hearing so: a crash there sends that one email again, under
the same ``Message-ID``, so a relay that deduplicates drops it. Everything that can fail before
the first email goes (the reads, the re-checks, the rendering) is done first; an error from the
mail server is not a crash: what it accepted is marked and committed, the rest stays due. An
address the mail server refuses for good (a 5xx reply) is skipped as ``undeliverable`` rather
than blocking the queue.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis
from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from config.redis import redis_client, redis_key
from groups.models import Enrollment, GroupSession, Reminder, ReminderPreference

SUBJECTS = {
    Reminder.Lead.DAY: "Reminder: your group session is coming up",
    Reminder.Lead.QUARTER: "Your group session starts in 15 minutes",
}
logger = logging.getLogger(__name__)

# How long the ledger remembers an accepted email: past the longest lead time, after which a
# retaken claim is skipped as started anyway.
LEDGER_SECONDS = 2 * 24 * 60 * 60
# A sweep claims no new batch after this long, so that it ends before beat's next tick.
SWEEP_SECONDS = 50.0


def preference_for(user: User) -> ReminderPreference:
    preference, _ = ReminderPreference.objects.get_or_create(user=user)
    return preference


def reminders_create_due(*, now: datetime) -> int:
    """Make the reminder rows that are due now and do not exist yet; return how many (a sweep
    running at the same time may have made some of them first)."""
    rows: list[Reminder] = []
    for lead in Reminder.Lead:
        window = timedelta(minutes=lead.value)
        sessions = {
            pk: (group_id, starts_at)
            for pk, group_id, starts_at in GroupSession.objects.filter(
                cancelled_at__isnull=True, starts_at__gt=now, starts_at__lte=now + window
            ).values_list("pk", "group_id", "starts_at")
        }
        if not sessions:
            continue
        opted_out = ReminderPreference.objects.filter(
            **{"day_before" if lead == Reminder.Lead.DAY else "quarter_hour": False}
        ).values("user_id")
        members: dict[int, list[int]] = defaultdict(list)
        for group_id, user_id in (
            Enrollment.objects.filter(
                group_id__in={group_id for group_id, _ in sessions.values()},
                state=Enrollment.State.ACTIVE,
                user__is_active=True,
            )
            .exclude(user_id__in=opted_out)
            .values_list("group_id", "user_id")
        ):
            members[group_id].append(user_id)
        # The rows made already are left out here, not by an anti-join in the database: right
        # after a sweep has made thousands, the planner's statistics still say there are none
        # and it joins both sides in a nested loop (seconds at 10,000 rows, quadratic beyond).
        made = set(
            Reminder.objects.filter(session_id__in=sessions, lead_minutes=lead).values_list(
                "session_id", "user_id"
            )
        )
        rows.extend(
            Reminder(
                user_id=user_id,
                session_id=session_id,
                lead_minutes=lead.value,
                due_at=starts_at - window,
            )
            for session_id, (group_id, starts_at) in sessions.items()
            for user_id in members[group_id]
            if (session_id, user_id) not in made
        )
    # A sweep running at the same time may make some of them first: the constraint keeps one.
    Reminder.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


@dataclass(frozen=True)
class DueReminder:
    """A claimed reminder with everything its re-checks and its email need, read with the
    claim (plain values: model instances for three tables cost more than the email)."""

    pk: int
    lead_minutes: int
    user_id: int
    email: str
    display_name: str
    time_zone: str
    is_active: bool
    suspended_until: datetime | None
    group_id: int
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime | None
    # The person's reminder choices; all three None while they have none (the defaults).
    day_before: bool | None
    quarter_hour: bool | None
    unsubscribe_token: str | None


_DUE_FIELDS = (
    "pk",
    "lead_minutes",
    "user_id",
    "user__email",
    "user__display_name",
    "user__time_zone",
    "user__is_active",
    "user__suspended_until",
    "session__group_id",
    "session__starts_at",
    "session__ends_at",
    "session__cancelled_at",
    "user__reminder_preference__day_before",
    "user__reminder_preference__quarter_hour",
    "user__reminder_preference__unsubscribe_token",
)


def _claim(now: datetime, size: int) -> list[DueReminder]:
    """Lock up to ``size`` due reminders that no other sweep holds. Call in a transaction."""
    rows = (
        Reminder.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(sent_at__isnull=True, skipped_at__isnull=True, due_at__lte=now)
        # Oldest first. Not also by pk: the reminders of a busy hour share one due_at, and a
        # tie-break that the index cannot give makes every claim sort all of them.
        .order_by("due_at")
        .values_list(*_DUE_FIELDS)[:size]
    )
    return [DueReminder(*row) for row in rows]


def _why_not(reminder: DueReminder, now: datetime, *, enrolled: bool) -> str:
    """Why a claimed reminder should not go out now ("" if it should)."""
    if reminder.cancelled_at is not None:
        return "cancelled"
    if reason := _why_not_yet(reminder, now):
        return reason
    if not reminder.is_active or not reminder.email:
        return "inactive"
    if reminder.suspended_until is not None and reminder.suspended_until > now:
        return "suspended"  # as User.is_suspended
    if not enrolled:
        return "not_enrolled"
    # As ReminderPreference.wants; None (no choices yet) means the defaults, which want both.
    day = reminder.lead_minutes == Reminder.Lead.DAY
    if (reminder.day_before if day else reminder.quarter_hour) is False:
        return "opted_out"
    return ""


def _why_not_yet(reminder: DueReminder, now: datetime) -> str:
    """The part of ``_why_not`` that only the clock changes: asked again just before sending."""
    if reminder.starts_at <= now:
        return "started"  # never sent late
    if reminder.lead_minutes > Reminder.Lead.QUARTER and reminder.starts_at - now <= timedelta(
        minutes=Reminder.Lead.QUARTER
    ):
        return "superseded"  # the 15-minute reminder says it better now
    return ""


def _unsubscribe_tokens(reminders: list[DueReminder]) -> dict[int, str]:
    """Each person's unsubscribe token, making the default choices for people who have none
    yet (in user order, so that two sweeps doing it at once cannot deadlock)."""
    tokens = {r.user_id: r.unsubscribe_token for r in reminders if r.unsubscribe_token}
    missing = sorted({r.user_id for r in reminders} - tokens.keys())
    if missing:
        ReminderPreference.objects.bulk_create(
            [ReminderPreference(user_id=user_id) for user_id in missing], ignore_conflicts=True
        )
        tokens.update(
            ReminderPreference.objects.filter(user_id__in=missing).values_list(
                "user_id", "unsubscribe_token"
            )
        )
    return tokens


def _first_reminders(reminders: list[DueReminder]) -> set[int]:
    """Which of these reminders are the first their person is sent: the one of theirs here for
    the soonest session, if they have never been sent one. One query, whatever the batch."""
    if not reminders:
        return set()
    reminded = set(
        Reminder.objects.filter(user_id__in={r.user_id for r in reminders}, sent_at__isnull=False)
        .order_by()
        .values_list("user_id", flat=True)
        .distinct()
    )
    first: set[int] = set()
    for reminder in sorted(reminders, key=lambda r: r.starts_at):
        if reminder.user_id not in reminded:
            reminded.add(reminder.user_id)
            first.add(reminder.pk)
    return first


def reminder_email(
    reminder: DueReminder, unsubscribe_token: str, *, practice: bool = False
) -> EmailMessage:
    """The email for one reminder: in the recipient's zone, with a neutral subject, no group
    topic, no other recipients, no login token; one-click unsubscribe headers. ``practice``
    offers the practice room (the first reminder a person is sent)."""
    zone = reminder.time_zone or "UTC"
    unsubscribe = settings.SITE_URL + reverse(
        "groups:reminders_unsubscribe", args=[unsubscribe_token]
    )
    # Templates show datetimes in the active zone: make it the recipient's while rendering.
    with timezone.override(ZoneInfo(zone)):
        body = render_to_string(
            "emails/reminder.txt",
            {
                "recipient": {"display_name": reminder.display_name},
                "starts_at": reminder.starts_at,
                "ends_at": reminder.ends_at,
                "zone": zone,
                "lead": reminder.lead_minutes,
                "site_url": settings.SITE_URL,
                "unsubscribe_url": unsubscribe,
                "practice": practice,
            },
        )
    return EmailMessage(
        subject=settings.ACCOUNT_EMAIL_SUBJECT_PREFIX
        + SUBJECTS[Reminder.Lead(reminder.lead_minutes)],
        body=body,
        to=[reminder.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            # Deterministic, so a mail server that sees the same reminder twice can drop one.
            "Message-ID": f"<reminder-{reminder.pk}@hearth>",
        },
    )


def _ledger_key(pk: int) -> str:
    return redis_key(f"reminder-accepted:{pk}")


@contextlib.contextmanager
def _ledger_writer() -> Iterator[Callable[[int], None]]:
    """For one batch, a function that records "the mail server accepted reminder ``pk``" in the
    ledger before the next email goes, so that it survives the worker being killed before the
    commit.

    Written without waiting for replies (``CLIENT REPLY OFF`` on a connection of its own), so a
    record costs a write to the socket, not a round trip (about 7 µs against 80 µs, which was
    most of the sweep's cost). That is safe against a crash because once the write returns the
    bytes belong to the kernel: a killed process's socket is still flushed and then closed
    with a FIN (there is no unread reply to turn the close into a reset), and Redis applies
    everything before it. Only losing the worker's whole machine can lose a record. At the end
    the replies are turned back on and one answer confirms that Redis has applied them all."""
    client = redis_client()
    if client is None:
        yield lambda pk: cache.set(_ledger_key(pk), 1, LEDGER_SECONDS)
        return
    pool = client.connection_pool
    connection = pool.get_connection()
    confirmed = False
    try:
        connection.send_command("CLIENT", "REPLY", "OFF")
        yield lambda pk: connection.send_command("SET", _ledger_key(pk), 1, "EX", LEDGER_SECONDS)
        connection.send_command("CLIENT", "REPLY", "ON")
        confirmed = connection.read_response() in (b"OK", "OK")
        if not confirmed:
            raise redis.RedisError("the reminder ledger did not confirm its records")
    finally:
        if not confirmed:
            connection.disconnect()  # replies are off: it must not go back to the pool so
        pool.release(connection)


def _ledger_accepted(pks: list[int]) -> set[int]:
    """Which of these reminders a mail server accepted in a sweep that never committed."""
    if not pks:
        return set()
    keys = [_ledger_key(pk) for pk in pks]
    if client := redis_client():
        return {pk for pk, held in zip(pks, client.mget(keys), strict=True) if held is not None}
    found = cache.get_many(keys)
    return {pk for pk, key in zip(pks, keys, strict=True) if key in found}


def _ledger_forget(pks: list[int]) -> None:
    """Drop committed reminders from the ledger; they are marked sent now. Best effort: an
    entry left behind expires and is never read again."""
    if not pks:
        return
    keys = [_ledger_key(pk) for pk in pks]
    try:
        if client := redis_client():
            client.unlink(*keys)
        else:
            cache.delete_many(keys)
    except Exception:  # the sent reminders are committed: nothing is lost
        logger.warning("reminder ledger: could not forget %d entries", len(pks), exc_info=True)


def _refused_for_good(error: smtplib.SMTPRecipientsRefused) -> bool:
    """True if every recipient was refused with a permanent (5xx) reply."""
    return bool(error.recipients) and all(code >= 500 for code, _ in error.recipients.values())


@dataclass
class SweepResult:
    created: int = 0
    sent: int = 0
    skipped: int = 0
    # Emailed by an earlier sweep that died before its commit, marked sent now (not resent).
    recovered: int = 0


def reminders_send_due(
    *,
    now: datetime | None = None,
    limit: int | None = None,
    seconds: float = SWEEP_SECONDS,
    batch: int | None = None,
) -> SweepResult:
    """Create due reminders, then send each once (see the module docstring). Claims batches
    until none is due, ``limit`` reminders were claimed, or ``seconds`` have passed; an error
    from the mail server is raised after what it accepted is committed."""
    now = now or timezone.now()
    batch = batch or settings.REMINDER_SEND_BATCH
    result = SweepResult(created=reminders_create_due(now=now))
    stop_at = time.monotonic() + seconds
    claimed = 0
    while limit is None or claimed < limit:
        failure: BaseException | None = None
        with transaction.atomic():
            reminders = _claim(now, batch if limit is None else min(batch, limit - claimed))
            if not reminders:
                break
            claimed += len(reminders)
            recovered = _ledger_accepted([r.pk for r in reminders])
            if recovered:
                reminders = [r for r in reminders if r.pk not in recovered]
            enrolled = set(
                Enrollment.objects.filter(
                    user_id__in={r.user_id for r in reminders}, state=Enrollment.State.ACTIVE
                ).values_list("group_id", "user_id")
            )
            skipped: dict[str, list[int]] = defaultdict(list)
            wanted: list[DueReminder] = []
            checked_at = timezone.now()
            for reminder in reminders:
                reason = _why_not(
                    reminder, checked_at, enrolled=(reminder.group_id, reminder.user_id) in enrolled
                )
                if reason:
                    skipped[reason].append(reminder.pk)
                else:
                    wanted.append(reminder)
            tokens = _unsubscribe_tokens(wanted)
            first = _first_reminders(wanted)
            emails = [
                (r, reminder_email(r, tokens[r.user_id], practice=r.pk in first)) for r in wanted
            ]
            # Only now does anything leave. Each accepted email is in the ledger before the
            # next goes, so a crash from here to the commit resends none of them.
            sent: list[int] = []
            try:
                if emails:
                    with _ledger_writer() as remember, get_connection() as mail:
                        for reminder, email in emails:
                            if reason := _why_not_yet(reminder, timezone.now()):
                                skipped[reason].append(reminder.pk)
                                continue
                            try:
                                mail.send_messages([email])
                            except smtplib.SMTPRecipientsRefused as refused:
                                if not _refused_for_good(refused):
                                    raise  # try again later
                                skipped["undeliverable"].append(reminder.pk)
                                continue
                            sent.append(reminder.pk)
                            remember(reminder.pk)
            except BaseException as error:  # the mail server failed, or the task is stopped
                failure = error
            finished = timezone.now()
            if sent or recovered:
                Reminder.objects.filter(pk__in=[*sent, *recovered]).update(sent_at=finished)
            for reason, pks in skipped.items():
                Reminder.objects.filter(pk__in=pks).update(skipped_at=finished, skip_reason=reason)
        _ledger_forget([*sent, *recovered])
        result.sent += len(sent)
        result.recovered += len(recovered)
        result.skipped += sum(len(pks) for pks in skipped.values())
        if failure is not None:
            raise failure
        if time.monotonic() >= stop_at:
            break
    return result


def rooms_announce_opening(*, now: datetime | None = None) -> int:
    """Tell the facilitators of each session whose room has just opened, once per session."""
    from accounts.models import Notification
    from accounts.notifications import notify
    from groups import rights
    from groups.models import TherapyGroupUserObjectPermission

    now = now or timezone.now()
    candidates = GroupSession.objects.filter(
        opening_notice_at__isnull=True,
        cancelled_at__isnull=True,
        closed_at__isnull=True,
        starts_at__gt=now,
        starts_at__lte=now + timedelta(minutes=60),
    ).values_list("pk", "group_id", "starts_at", "room_opens_minutes")
    told = 0
    for session_id, group_id, starts_at, lead in list(candidates):
        if starts_at - timedelta(minutes=lead) > now:
            continue  # not open yet
        with transaction.atomic():
            if not GroupSession.objects.filter(
                pk=session_id, opening_notice_at__isnull=True
            ).update(opening_notice_at=now):
                continue  # another worker told them
            holders = TherapyGroupUserObjectPermission.objects.filter(
                content_object_id=group_id, permission__codename=rights.FACILITATE
            ).values_list("user_id", flat=True)
            for user in User.objects.filter(pk__in=holders, is_active=True):
                notify(
                    kind=Notification.Kind.ROOM_OPEN,
                    recipient=user,
                    group_id=group_id,
                    session_id=session_id,
                )
            told += 1
    return told
