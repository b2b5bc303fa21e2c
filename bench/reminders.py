"""Session reminders: 100,000 due at once, the sweep against a bare render-and-send loop.

Creates the PostgreSQL database ``hearth_bench_reminders`` with 2,000 groups of 50 active
members, each group with a session starting in ten minutes (whose day-before reminders went
out yesterday), so that exactly 100,000 fifteen-minute reminders fall due at once. Then, in one
run and in turn, it measures:

1. the *sweep*: ``groups.reminders.reminders_send_due`` (what the beat task calls), called
   back to back until nothing is left, sending through Django's in-memory email backend;
2. the *bare loop*: the same 100,000 emails rendered from the same template with the same
   headers and sent through the same backend, one ``send()`` each, with no claiming, no
   re-checks and no bookkeeping (the data it needs is read before the clock starts).

The machine is shared, so the result is the ratio sweep / bare within each round; the median
round is reported. Every round checks that exactly 100,000 emails left, one per reminder, each
reminder marked sent once, and that the bare loop produced byte-identical emails. Run from the
repository root::

    .venv/bin/python bench/reminders.py [--rounds 5] [--reminders 100000] [--batch N] [--no-write]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import os
import pstats
import secrets
import shlex
import statistics
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from common import (  # bench/ is first on sys.path: the benchmarks run as scripts
    DOC,
    PG_SERVER,
    create_database,
    insert,
    measured_on,
    release_database,
    write_section,
)

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

DB_NAME = "hearth_bench_reminders"
DATABASE_URL = f"{PG_SERVER}/{DB_NAME}"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"
REDIS_URL = "redis://127.0.0.1:6379/14"  # a database of its own, emptied at the start

MEMBERS_PER_GROUP = 50  # a group holds at most 50 (group_capacity_range)
STARTS_IN = timedelta(minutes=10)  # inside the 15-minute window, clear of the start
TARGET_RATIO = 2.0
# Members' zones in turn: every email is rendered in its recipient's zone.
ZONES = (
    "Europe/London",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "Australia/Sydney",
    "UTC",
)
# Each group meets weekly: two past sessions, the one about to start, and two ahead.
WEEKS = (-2, -1, 0, 1, 2)


def section_title(reminders: int) -> str:
    return f"## Reminders ({reminders:,} due at once)"


# --- The database ------------------------------------------------------------------------------


def load(*, groups: int, now: datetime) -> None:
    """Groups of 50 active members with weekly sessions, one of which starts in ten minutes.

    Every member has reminder choices (their first reminder made them) and yesterday's
    day-before reminder for that session is marked sent, as it would be. Each group has its
    own facilitator, so no facilitator leads two sessions at once (the database refuses it).
    """
    from django.db import transaction

    from accounts.models import User
    from groups.models import (
        Enrollment,
        GroupSession,
        Reminder,
        ReminderPreference,
        TherapyGroup,
        Topic,
    )

    members = groups * MEMBERS_PER_GROUP
    with transaction.atomic():
        facilitators = insert(
            User,
            (
                User(
                    email=f"facilitator{i}@bench.hearth.example",
                    display_name=f"Facilitator {i}",
                    password="!",
                    time_zone="Europe/London",
                )
                for i in range(groups)
            ),
        )
        people = insert(
            User,
            (
                User(
                    email=f"member{i}@bench.hearth.example",
                    display_name=f"Member {i}",
                    password="!",
                    time_zone=ZONES[i % len(ZONES)],
                )
                for i in range(members)
            ),
        )
        topics = list(Topic.objects.exclude(slug="clinical-practice"))
        made_groups = insert(
            TherapyGroup,
            (
                TherapyGroup(
                    title=f"{topics[i % len(topics)].name} group {i:04d}",
                    slug=f"group-{i}",
                    topic=topics[i % len(topics)],
                    kind=TherapyGroup.Kind.SUPPORT,
                    description="A weekly group whose members all get a reminder at once.",
                    facilitator_id=facilitators[i].pk,
                    capacity=MEMBERS_PER_GROUP,
                    time_zone="Europe/London",
                )
                for i in range(groups)
            ),
        )
        start = now + STARTS_IN
        insert(
            GroupSession,
            (
                GroupSession(
                    group_id=g.pk,
                    facilitator_id=g.facilitator_id,
                    starts_at=start + timedelta(weeks=week),
                    ends_at=start + timedelta(weeks=week, hours=1),
                    closed_at=start + timedelta(weeks=week, hours=1) if week < 0 else None,
                )
                for g in made_groups
                for week in WEEKS
            ),
        )
        insert(
            Enrollment,
            (
                Enrollment(
                    group_id=g.pk,
                    user_id=people[i * MEMBERS_PER_GROUP + j].pk,
                    state=Enrollment.State.ACTIVE,
                    pseudonym=f"Member {j + 1}",
                    activated_at=now - timedelta(weeks=3),
                )
                for i, g in enumerate(made_groups)
                for j in range(MEMBERS_PER_GROUP)
            ),
        )
        insert(ReminderPreference, (ReminderPreference(user_id=p.pk) for p in people))
        current = GroupSession.objects.filter(starts_at=start).values_list("pk", "group_id")
        members_of: dict[int, list[int]] = {}
        for group_id, user_id in Enrollment.objects.values_list("group_id", "user_id"):
            members_of.setdefault(group_id, []).append(user_id)
        day = Reminder.Lead.DAY
        insert(
            Reminder,
            (
                Reminder(
                    user_id=user_id,
                    session_id=session_id,
                    lead_minutes=day,
                    due_at=start - timedelta(minutes=day),
                    sent_at=start - timedelta(minutes=day - 1),
                )
                for session_id, group_id in current
                for user_id in members_of[group_id]
            ),
        )
    vacuum()


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def counts() -> dict[str, int]:
    from accounts.models import User
    from groups.models import Enrollment, GroupSession, Reminder, TherapyGroup

    return {
        "people": User.objects.count(),
        "groups": TherapyGroup.objects.count(),
        "sessions": GroupSession.objects.count(),
        "enrollments": Enrollment.objects.count(),
        "reminders": Reminder.objects.count(),
    }


def reset(now: datetime) -> None:
    """Make the 15-minute reminders due again from scratch: delete them (the sweep makes them
    again, as it would), move every session so that the current one starts ten minutes from
    ``now``, and vacuum, so that each round starts from the same tables."""
    from django.db.models import F

    from groups.models import GroupSession, Reminder

    Reminder.objects.filter(lead_minutes=Reminder.Lead.QUARTER).delete()
    current = (
        GroupSession.objects.filter(closed_at__isnull=True, starts_at__gt=now - timedelta(days=1))
        .order_by("starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    assert current is not None
    shift = now + STARTS_IN - current
    GroupSession.objects.update(
        starts_at=F("starts_at") + shift,
        ends_at=F("ends_at") + shift,
        closed_at=F("closed_at") + shift,
    )
    Reminder.objects.update(due_at=F("due_at") + shift, sent_at=F("sent_at") + shift)
    vacuum()


# --- The two paths -----------------------------------------------------------------------------


@dataclass
class Outcome:
    seconds: float
    cpu: float  # CPU seconds of this process and of its PostgreSQL backend
    fingerprints: dict[str, str]  # Message-ID -> digest of everything the recipient gets
    sweeps: int = 0
    create_seconds: float = 0.0


class Clock:
    """Wall time, and the CPU time spent by this process and its database connection's backend
    (read from /proc: PostgreSQL runs on this machine). Other programs on the machine stretch
    the wall time of both paths alike, but barely touch their CPU time."""

    def __enter__(self) -> Clock:
        self.backend = backend_pid()
        self.began, self.cpu_began = time.perf_counter(), self.cpu_now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.began
        self.cpu = self.cpu_now() - self.cpu_began
        if backend_pid() != self.backend:
            raise SystemExit("The database connection changed while measuring")

    def cpu_now(self) -> float:
        fields = Path(f"/proc/{self.backend}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return time.process_time() + ticks / os.sysconf("SC_CLK_TCK")


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def fingerprint(message: Any) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in sorted(message.extra_headers.items()))
    text = "\x00".join([message.subject, ",".join(message.to), headers, message.body])
    return hashlib.sha1(text.encode()).hexdigest()


def collect_outbox() -> dict[str, str]:
    from django.core import mail

    outbox = mail.outbox
    prints = {m.extra_headers["Message-ID"]: fingerprint(m) for m in outbox}
    if len(prints) != len(outbox):
        raise SystemExit(f"{len(outbox) - len(prints)} emails share a Message-ID: duplicates")
    mail.outbox = []
    return prints


def fresh_outbox() -> None:
    from django.core import mail

    mail.outbox = []
    gc.collect()


def run_sweep(batch: int, profile: cProfile.Profile | None = None) -> Outcome:
    """Call the sweep back to back, as beat would if it ticked as soon as one ended, until one
    finds nothing to do. Times the creation of the due rows apart as well."""
    import groups.reminders as module

    creating = [0.0]
    create = module.reminders_create_due

    def timed_create(**kwargs: Any) -> int:
        began = time.perf_counter()
        try:
            return create(**kwargs)
        finally:
            creating[0] += time.perf_counter() - began

    module.reminders_create_due = timed_create
    fresh_outbox()
    sweeps = 0
    try:
        if profile:
            profile.enable()
        with Clock() as clock:
            while True:
                result = module.reminders_send_due(batch=batch)
                sweeps += 1
                if result.sent == 0 and result.skipped == 0:
                    break
    finally:
        if profile:
            profile.disable()
        module.reminders_create_due = create
    return Outcome(
        clock.seconds, clock.cpu, collect_outbox(), sweeps=sweeps, create_seconds=creating[0]
    )


@dataclass
class Prepared:
    """What the bare loop needs for one email, read from the database before it starts."""

    pk: int
    recipient: Any  # the User
    starts_at: datetime
    ends_at: datetime
    token: str


def prepare_bare(lead: int) -> list[Prepared]:
    from groups.models import Reminder, ReminderPreference

    tokens = dict(ReminderPreference.objects.values_list("user_id", "unsubscribe_token"))
    return [
        Prepared(r.pk, r.user, r.session.starts_at, r.session.ends_at, tokens[r.user_id])
        for r in Reminder.objects.filter(lead_minutes=lead, sent_at__isnull=False)
        .select_related("user", "session")
        .order_by("pk")
    ]


def run_bare(emails: list[Prepared], lead: int) -> Outcome:
    """Render and send each email, one ``send()`` each, and nothing else."""
    from django.conf import settings

    from groups.models import Reminder
    from groups.reminders import SUBJECTS

    subject = settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + SUBJECTS[Reminder.Lead(lead)]
    fresh_outbox()
    with Clock() as clock:
        send_each(emails, lead, subject)
    return Outcome(clock.seconds, clock.cpu, collect_outbox())


def send_each(emails: list[Prepared], lead: int, subject: str) -> None:
    from zoneinfo import ZoneInfo

    from django.conf import settings
    from django.core.mail import EmailMessage
    from django.template.loader import render_to_string
    from django.urls import reverse
    from django.utils import timezone

    for e in emails:
        zone = e.recipient.time_zone or "UTC"
        unsubscribe = settings.SITE_URL + reverse("groups:reminders_unsubscribe", args=[e.token])
        with timezone.override(ZoneInfo(zone)):
            body = render_to_string(
                "emails/reminder.txt",
                {
                    "recipient": e.recipient,
                    "starts_at": e.starts_at,
                    "ends_at": e.ends_at,
                    "zone": zone,
                    "lead": lead,
                    "site_url": settings.SITE_URL,
                    "unsubscribe_url": unsubscribe,
                },
            )
        EmailMessage(
            subject=subject,
            body=body,
            to=[e.recipient.email],
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "Message-ID": f"<reminder-{e.pk}@hearth>",
            },
        ).send()


def check_sweep(outcome: Outcome, expected: int) -> None:
    """Exactly ``expected`` emails, one per 15-minute reminder, each to its own person, and
    every reminder marked sent once (none skipped, none left)."""
    from groups.models import Reminder

    rows = Reminder.objects.filter(lead_minutes=Reminder.Lead.QUARTER)
    sent = set(rows.filter(sent_at__isnull=False).values_list("pk", flat=True))
    problems = []
    if len(outcome.fingerprints) != expected:
        problems.append(f"{len(outcome.fingerprints):,} emails instead of {expected:,}")
    if rows.count() != expected:
        problems.append(f"{rows.count():,} reminder rows instead of {expected:,}")
    if len(sent) != expected:
        problems.append(f"{len(sent):,} marked sent instead of {expected:,}")
    if rows.filter(skipped_at__isnull=False).exists():
        problems.append("some were skipped")
    ids = {int(k.removeprefix("<reminder-").split("@")[0]) for k in outcome.fingerprints}
    if ids != sent:
        problems.append(f"{len(ids ^ sent):,} emails and sent rows do not match")
    if Reminder.objects.filter(lead_minutes=Reminder.Lead.DAY, sent_at__isnull=True).exists():
        problems.append("a day-before reminder was touched")
    if problems:
        raise SystemExit("The sweep is wrong: " + "; ".join(problems))


def check_same(sweep: Outcome, bare: Outcome) -> None:
    if sweep.fingerprints != bare.fingerprints:
        differ = sum(1 for k, v in sweep.fingerprints.items() if bare.fingerprints.get(k) != v)
        raise SystemExit(f"The bare loop sent different emails ({differ:,} differ)")


def check_recipients() -> None:
    """Each email went to the person its reminder is for (checked once, through the rows)."""
    from groups.models import Enrollment, Reminder

    pairs = set(
        Reminder.objects.filter(lead_minutes=Reminder.Lead.QUARTER).values_list(
            "user_id", "session__group_id"
        )
    )
    members = set(Enrollment.objects.values_list("user_id", "group_id"))
    if pairs != members:
        raise SystemExit("The reminders do not match the members of the groups")


# --- The report --------------------------------------------------------------------------------


@dataclass
class Round:
    sweep: Outcome
    bare: Outcome

    @property
    def ratio(self) -> float:
        return self.sweep.seconds / self.bare.seconds

    @property
    def cpu_ratio(self) -> float:
        return self.sweep.cpu / self.bare.cpu


@dataclass
class Results:
    reminders: int
    rounds: list[Round] = field(default_factory=list)

    def median(self, pick: Callable[[Round], float]) -> float:
        return statistics.median(pick(r) for r in self.rounds)


def table(results: Results) -> str:
    n = results.reminders
    lines = [
        "| Round | Sweep s | of which making rows s | Bare loop s | **Sweep / bare** "
        "| Sweep CPU s | Bare CPU s | CPU sweep / bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for number, r in enumerate(results.rounds, 1):
        lines.append(
            f"| {number} | {r.sweep.seconds:.1f} | {r.sweep.create_seconds:.1f} | "
            f"{r.bare.seconds:.1f} | {r.ratio:.2f} | {r.sweep.cpu:.1f} | {r.bare.cpu:.1f} | "
            f"{r.cpu_ratio:.2f} |"
        )
    med = results.median
    sweep, bare = med(lambda r: r.sweep.seconds), med(lambda r: r.bare.seconds)
    lines.append(
        f"| **median** | {sweep:.1f} | {med(lambda r: r.sweep.create_seconds):.1f} | "
        f"{bare:.1f} | **{med(lambda r: r.ratio):.2f}** | {med(lambda r: r.sweep.cpu):.1f} | "
        f"{med(lambda r: r.bare.cpu):.1f} | {med(lambda r: r.cpu_ratio):.2f} |"
    )
    lines.append("")
    lines.append(
        f"Median rates: the sweep {n / sweep:,.0f} reminders a second "
        f"({sweep / n * 1e6:,.0f} µs each), the bare loop {n / bare:,.0f} a second "
        f"({bare / n * 1e6:,.0f} µs each). Target: sweep / bare at most {TARGET_RATIO:.1f}."
    )
    return "\n".join(lines)


def section(
    *, command: str, results: Results, sizes: dict[str, int], cores: int, batch: int
) -> str:
    ratio = results.median(lambda r: r.ratio)
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    loaded = (
        f"Data loaded: {sizes['groups']:,} groups of {MEMBERS_PER_GROUP} active members, "
        f"{sizes['people']:,} people, {sizes['sessions']:,} weekly sessions (each group's "
        "current one starts ten minutes after the round begins), "
        f"{sizes['enrollments']:,} enrollments, every member's reminder choices, and "
        "yesterday's day-before reminders marked sent. One process, DEBUG=0, PostgreSQL, "
        "Redis for the cache (the sweep's ledger), "
        f"Django's in-memory email backend; the sweep claims {batch} reminders per transaction."
    )
    return f"""{section_title(results.reminders)}

{measured_on(command=command, cores=cores)}

{textwrap.fill(loaded, width=96)}

{table(results)}

The median ratio is **{ratio:.2f}**: it {verdict} the target of {TARGET_RATIO:.1f}.

**What is measured.** *Sweep*: `groups.reminders.reminders_send_due()`, what the beat task
calls, run back to back until a call finds nothing left, from the moment the reminders fall due
until the last is sent. It makes the {results.reminders:,} due rows ("making rows"), claims them
in batches under `SELECT … FOR UPDATE SKIP LOCKED`, re-checks each (not cancelled, not started,
still enrolled, not suspended, still wanted), renders and sends it, writes its id to the
ledger in Redis once the backend has taken it (one round trip per email, which is what keeps a
crash from resending the batch), marks the batch sent in the transaction that sent it, and
clears the batch from the ledger. *Bare loop*: the same emails from the same template, with the same
subject and headers, each sent with one `send()` through the same backend, and nothing else:
the data it needs is read before its clock starts. The two run in turn, round after round, and
each round's ratio is its sweep time over its bare time, so that anything else the machine was
doing slows both alike. Each round starts from the same tables (the 15-minute reminders
deleted, the sessions moved to start ten minutes later, `VACUUM ANALYZE`). The CPU columns add
this process's CPU time to that of its PostgreSQL backend (not Redis's): other programs on the
machine stretch wall times, much less CPU times, so the CPU ratio is a check on the wall-time
one.

**What is checked.** Every round: exactly {results.reminders:,} emails, one per reminder and
none with the same `Message-ID`; every reminder marked sent, none skipped, none left; each
reminder for a member of its session's group; and the bare loop's emails identical to the
sweep's (subject, recipient, headers and body).

**Before.** At commit 73751f6 the sweep claimed one reminder per transaction, ordered by
`due_at, id` (which the partial index cannot give, so every claim sorted every pending row)
and read the enrollment and the choices with a query each: with 10,000 due at once it took
299 s against a bare loop of 3.3 s (ratio 92), and 100,000 could not all have gone out before
their sessions started. With today's code, one reminder per transaction (`--batch 1`, 10,000
due) still costs a ratio of 12 to 16, ten per transaction about 3.5: each transaction's claim,
re-check query, update and commit cost several times the email itself. One per transaction was
the default until the ledger: it was the only way to keep a crash to one resent email.
"""


# --- Main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--reminders", type=int, default=100_000, help=f"a multiple of {MEMBERS_PER_GROUP}"
    )
    parser.add_argument(
        "--batch",
        type=int,
        help="reminders per transaction (default: settings.REMINDER_SEND_BATCH)",
    )
    parser.add_argument("--profile", metavar="FILE", help="cProfile the first sweep into FILE")
    parser.add_argument("--keep", action="store_true", help=f"leave the {DB_NAME} database")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    if args.reminders <= 0 or args.reminders % MEMBERS_PER_GROUP:
        parser.error(f"--reminders must be a positive multiple of {MEMBERS_PER_GROUP}")

    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "EMAIL_BACKEND": LOCMEM,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
        "REDIS_URL": REDIS_URL,
        "REDIS_NAMESPACE": "hearth-bench",
    }
    os.environ.update(env)
    # The sweep's ledger of accepted emails lives in the cache: Redis, as in production.
    ledger = redis.Redis.from_url(REDIS_URL)
    ledger.ping()
    ledger.flushdb()
    sys.path.insert(0, str(ROOT))

    try:
        create_database(DB_NAME, env, static=False)

        from django.conf import settings

        from groups.models import Reminder

        lead = Reminder.Lead.QUARTER
        batch = args.batch or settings.REMINDER_SEND_BATCH
        print("Loading the data …")
        began = time.monotonic()
        load(groups=args.reminders // MEMBERS_PER_GROUP, now=datetime.now(UTC))
        sizes = counts()
        print(f"Loaded in {time.monotonic() - began:.0f} s: {sizes}")

        results = Results(args.reminders)
        profile = cProfile.Profile() if args.profile else None
        for number in range(1, args.rounds + 1):
            reset(datetime.now(UTC))
            sweep = run_sweep(batch, profile if number == 1 else None)
            check_sweep(sweep, args.reminders)
            if number == 1:
                check_recipients()
            print(
                f"  round {number}/{args.rounds}  sweep {sweep.seconds:7.1f} s, "
                f"CPU {sweep.cpu:6.1f} s ({sweep.sweeps} calls, making rows "
                f"{sweep.create_seconds:.1f} s)",
                flush=True,
            )
            emails = prepare_bare(lead)
            bare = run_bare(emails, lead)
            del emails
            check_same(sweep, bare)
            results.rounds.append(Round(sweep, bare))
            print(
                f"  round {number}/{args.rounds}  bare  {bare.seconds:7.1f} s, "
                f"CPU {bare.cpu:6.1f} s   sweep / bare {results.rounds[-1].ratio:.2f} "
                f"(CPU {results.rounds[-1].cpu_ratio:.2f})",
                flush=True,
            )
        if profile and args.profile:
            profile.dump_stats(args.profile)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(30)

        cores = len(os.sched_getaffinity(0))
        print()
        print(table(results))
        command = shlex.join([".venv/bin/python", "bench/reminders.py", *sys.argv[1:]])
        if not args.no_write:
            write_section(
                section_title(args.reminders),
                section(command=command, results=results, sizes=sizes, cores=cores, batch=batch),
            )
            print(f"\nWrote {DOC.relative_to(ROOT)}.")
    finally:
        release_database(DB_NAME, keep=args.keep)


if __name__ == "__main__":
    main()
