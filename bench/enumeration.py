"""Whether sign-up, login and password reset tell who has an account by how long they take.

Creates the PostgreSQL database ``hearth_bench_enum`` with verified accounts and, in this
process, under production settings (``DEBUG=0``, Django's default password hasher: PBKDF2),
posts each form through Django's test client for an address that has an account and for one
that has none, alternating, 30 times each (after a few untimed tries):

- sign-up, with the address and a new display name;
- login, with the address and a wrong password;
- password reset, with the address.

Every try is a newcomer: a fresh client from its own IP address, and every known try uses its
own account, so allauth's rate limits (per IP and per address) never answer instead of the
form. It checks that both answer alike (status, redirect, page, emails sent), prints the
median time of each, the ratio unknown / known and the queries each made, and exits with
status 1 if the two answer differently or any pair's medians differ by 20% or more. Run from
the repository root::

    .venv/bin/python bench/enumeration.py [--tries 30] [--keep] [--no-write]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from common import (  # bench/ is first on sys.path: the benchmarks run as scripts
    DOC,
    PG_SERVER,
    create_database,
    measured_on,
    release_database,
    write_section,
)

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Who has an account (sign-up, login, password reset)"

DB_NAME = "hearth_bench_enum"
DATABASE_URL = f"{PG_SERVER}/{DB_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/12"  # allauth's rate limits: a database of its own, emptied
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"

PASSWORD = "a-long-bench-password-42"
WARM_UP = 3
TOLERANCE = 0.20  # the medians of a pair may differ by less than this


def known_address(n: int) -> str:
    return f"known{n}@bench.hearth.example"


@dataclass(frozen=True)
class Flow:
    """A form, and what to post in it for ``address`` on try ``tag``."""

    label: str
    url_name: str
    form: Callable[[str, str], dict[str, str]]


def _signup_form(address: str, tag: str) -> dict[str, str]:
    return {
        "email": address,
        "display_name": f"Newcomer {tag}",
        "password1": "a-new-calm-password-7",
        "password2": "a-new-calm-password-7",
        "time_zone": "Europe/London",
    }


FLOWS = (
    Flow("Sign-up", "account_signup", _signup_form),
    Flow(
        "Login (wrong password)",
        "account_login",
        lambda address, tag: {"login": address, "password": "not-the-password-1"},
    ),
    Flow("Password reset", "account_reset_password", lambda address, tag: {"email": address}),
)


@dataclass
class Side:
    """One side of a flow (the known or the unknown address): its timings and queries."""

    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000

    @property
    def median_cpu_ms(self) -> float:
        return statistics.median(self.cpu) * 1000


@dataclass
class Result:
    flow: Flow
    known: Side = field(default_factory=Side)
    unknown: Side = field(default_factory=Side)
    emails: set[int] = field(default_factory=set)
    differences: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.unknown.median_ms / self.known.median_ms

    @property
    def cpu_ratio(self) -> float:
        return self.unknown.median_cpu_ms / self.known.median_cpu_ms

    @property
    def within(self) -> bool:
        return max(self.ratio, 1 / self.ratio) < 1 + TOLERANCE


# --- The data -----------------------------------------------------------------------------------


def load(accounts: int) -> None:
    """``accounts`` verified people, all with the same password (hashed once: the hash
    carries its own salt)."""
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    hashed = make_password(PASSWORD)
    people = User.objects.bulk_create(
        User(email=known_address(n), display_name=f"Known Person {n}", password=hashed)
        for n in range(accounts)
    )
    EmailAddress.objects.bulk_create(
        EmailAddress(user=person, email=person.email, verified=True, primary=True)
        for person in people
    )


# --- Measuring ----------------------------------------------------------------------------------


def _neutral(page: bytes, address: str) -> str:
    """``page`` without what differs between tries: the CSRF token and the address typed."""
    text = re.sub(
        r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken"', page.decode()
    )
    return text.replace(address, "ADDRESS")


def _try(
    flow: Flow, address: str, tag: str, ip: str, *, warm_up: bool
) -> tuple[dict[str, Any], float, float]:
    """Post ``flow``'s form as a newcomer from ``ip``: what it answered, how long it took and
    the CPU time this process spent on it.

    An untimed warm-up try also counts its queries and follows its redirect, so that the page
    shown is compared too."""
    from django.core import mail
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = Client(REMOTE_ADDR=ip)
    data = flow.form(address, tag)
    url = reverse(flow.url_name)
    sent_before = len(mail.outbox)
    queries = None
    if warm_up:
        with CaptureQueriesContext(connection) as captured:
            response = client.post(url, data)
        queries = len(captured.captured_queries)
        seconds = cpu = 0.0
    else:
        began, began_cpu = time.perf_counter(), time.process_time()
        response = client.post(url, data)
        seconds = time.perf_counter() - began
        cpu = time.process_time() - began_cpu
    location = response.get("Location", "")
    page = response.content
    if warm_up and location:
        page = client.get(location).content
    answer = {
        "status": response.status_code,
        "location": location,
        "page": _neutral(page, address),
        "emails": len(mail.outbox) - sent_before,
        "queries": queries,
    }
    return answer, seconds, cpu


def measure(flow: Flow, number: int, tries: int) -> Result:
    """Known and unknown addresses in turn, alternating which goes first."""
    from django.core import mail

    result = Result(flow)
    for n in range(WARM_UP + tries):
        warm_up = n < WARM_UP
        answers = {}
        order = ("known", "unknown") if n % 2 == 0 else ("unknown", "known")
        for side in order:
            known = side == "known"
            address = known_address(n) if known else f"nobody{number}-{n}@bench.hearth.example"
            # Its own IP address for every post, as many newcomers would have.
            ip = f"10.{number}.{(100 if known else 0) + n // 250}.{n % 250 + 1}"
            tag = f"{side[0].upper()}{n:03d}"
            answer, seconds, cpu = _try(flow, address, tag, ip, warm_up=warm_up)
            answers[side] = answer
            timings = getattr(result, side)
            queries = answer.pop("queries")
            if warm_up:
                timings.queries.append(queries)
            else:
                timings.seconds.append(seconds)
                timings.cpu.append(cpu)
        for key in ("status", "location", "page", "emails"):
            if answers["known"][key] != answers["unknown"][key]:
                result.differences.append(
                    f"try {n}: {key} differs: known {str(answers['known'][key])[:200]!r}, "
                    f"unknown {str(answers['unknown'][key])[:200]!r}"
                )
        result.emails.add(answers["known"]["emails"])
        mail.outbox.clear()
    return result


def hash_seconds() -> float:
    from django.contrib.auth.hashers import make_password

    began = time.perf_counter()
    make_password(PASSWORD)
    return time.perf_counter() - began


# --- The report ---------------------------------------------------------------------------------


def table(results: list[Result]) -> str:
    lines = [
        "| Form | Known address, median ms | Unknown address, median ms | Unknown / known "
        "| CPU unknown / known | Queries known / unknown | Emails each |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        queries = (
            f"{statistics.median(result.known.queries):.0f} / "
            f"{statistics.median(result.unknown.queries):.0f}"
        )
        lines.append(
            f"| {result.flow.label} | {result.known.median_ms:.0f} | "
            f"{result.unknown.median_ms:.0f} | {result.ratio:.2f} | {result.cpu_ratio:.2f} | "
            f"{queries} | "
            f"{', '.join(str(count) for count in sorted(result.emails))} |"
        )
    return "\n".join(lines)


def section(*, command: str, results: list[Result], tries: int, cores: int, hashing: float) -> str:
    return f"""{SECTION}

{measured_on(command=command, cores=cores)}

Each form posted {tries} times with an address that has a verified account and {tries} times
with one that has none, alternating, in one process under production settings (`DEBUG=0`,
PBKDF2: one hash took {hashing * 1000:.0f} ms here), through Django's test client, emails to
the in-memory backend. Sign-up uses a new display name each time; login a wrong password.

{table(results)}

**What it shows.** Whether an address has an account must not show in how long the answer
takes (the answers themselves are the same: the benchmark checks status, redirect, page and
emails sent). The medians of a pair must differ by less than 20%; the benchmark exits with
status 1 otherwise. The CPU column is the same ratio for the CPU time of the benchmark's own
process, a check: other programs on a shared machine stretch wall time, not CPU time (the
database's work is in its own process, so it is not in that column).

**Where the work was different.** Sign-up for a known address creates nothing, and up to
commit 2e902ae it therefore skipped the password hash, nearly all of a new sign-up's time: this
benchmark measured 114 ms for a known address against 913 ms for an unknown one (ratio 7.99).
It now hashes the submitted password all the same (`accounts.forms.SignupForm.try_save`); what
remains is the database work of a new account (the person, the address, the audit event: the
extra queries in the table), a few milliseconds. Login already did the same work either way
(each of the two backends checks the password, or hashes it when there is no such person), and
so did password reset (one email either way: the reset link, or "there is no account here").
`tests/accounts/test_enumeration.py` counts that work (hashes, emails) and compares the pages,
without a clock.
"""


# --- Main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=30, help="timed tries for each address")
    parser.add_argument("--keep", action="store_true", help=f"leave the {DB_NAME} database")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hearth-bench-enum-"))
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": "hearth-bench-enum",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "testserver",
        "SECURE_SSL_REDIRECT": "0",
        "STATIC_ROOT": str(work / "static"),  # the manifest that DEBUG=0 needs, outside the repo
        "EMAIL_BACKEND": LOCMEM,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    redis.Redis.from_url(REDIS_URL).flushdb()
    sys.path.insert(0, str(ROOT))

    failed = False
    try:
        create_database(DB_NAME, env)

        from django.conf import settings
        from django.core import mail

        mail.outbox = []  # what the in-memory backend appends to (the test runner's job)
        assert "PBKDF2" in settings.PASSWORD_HASHERS[0], settings.PASSWORD_HASHERS[0]
        load(WARM_UP + args.tries)
        hashing = hash_seconds()
        print(f"One password hash ({settings.PASSWORD_HASHERS[0]}): {hashing * 1000:.0f} ms")

        results = []
        for number, flow in enumerate(FLOWS, start=1):
            result = measure(flow, number, args.tries)
            results.append(result)
            print(
                f"  {flow.label:24} known {result.known.median_ms:6.0f} ms  "
                f"unknown {result.unknown.median_ms:6.0f} ms  ratio {result.ratio:.2f} "
                f"(CPU {result.cpu_ratio:.2f})",
                flush=True,
            )
            for difference in result.differences:
                print(f"    ANSWERS DIFFER, {difference}")

        cores = len(os.sched_getaffinity(0))
        print()
        print(table(results))
        failed = any(r.differences or not r.within for r in results)
        print()
        if failed:
            print(
                f"FAIL: an address that has an account shows (answers differ, or medians "
                f"differ by {TOLERANCE:.0%} or more)."
            )
        else:
            print(f"OK: every pair answers alike, medians within {TOLERANCE:.0%}.")
        command = shlex.join([".venv/bin/python", "bench/enumeration.py", *sys.argv[1:]])
        if not args.no_write:
            write_section(
                SECTION,
                section(
                    command=command,
                    results=results,
                    tries=args.tries,
                    cores=cores,
                    hashing=hashing,
                ),
            )
            print(f"\nWrote {DOC.relative_to(ROOT)}.")
    finally:
        release_database(DB_NAME, keep=args.keep)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
