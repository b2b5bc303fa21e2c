"""What the benchmarks in bench/ share: their own database, loading in batches, the report.

Imported as ``common``: the benchmarks run as scripts (``.venv/bin/python bench/x.py``), which
puts this folder first on ``sys.path``.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "performance.md"
PG_SERVER = "postgres://postgres@127.0.0.1:5432"
DOC_PREAMBLE = (
    "# Performance\n\nWhat the benchmarks in `bench/` measured (see `bench/README.md`).\n"
)


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, timeout=600)


def create_database(name: str, env: dict[str, str], *, static: bool = True) -> None:
    """Drop and create the database ``name``, migrate it, collect the static files that
    ``DEBUG=0`` needs (into ``env["STATIC_ROOT"]``) unless ``static`` is off, and set Django up
    in this process (``env`` must be in ``os.environ`` already)."""
    print(f"Creating the {name} database and migrating …", flush=True)
    recreate_database(name)
    manage(env, "migrate", "--no-input", "-v", "0")
    if static:
        manage(env, "collectstatic", "--no-input", "-v", "0")
    import django

    django.setup()


def release_database(name: str, *, keep: bool) -> None:
    """Close this process's connections and drop the database ``name``, unless ``keep``."""
    if "django" in sys.modules:
        from django.db import connections

        connections.close_all()  # gives them back to the pool, which still holds them open
        for connection in connections.all(initialized_only=True):
            connection.close_pool()
    if keep:
        print(f"Kept the {name} database ({PG_SERVER}/{name}).")
    else:
        drop_database(name)


def chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def insert(model: Any, rows: Iterable[Any], size: int = 5_000) -> list[Any]:
    """bulk_create ``rows`` in batches, without holding every instance in memory at once."""
    made: list[Any] = []
    for chunk in chunks(rows, size):
        made.extend(model.objects.bulk_create(chunk))
    return made


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def git_revision() -> str:
    """The commit measured, and whether the working tree differed from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head} (with uncommitted changes)" if dirty else head


def measured_on(*, command: str, cores: int) -> str:
    """The opening of a section of docs/performance.md: when, at which commit, on how many
    cores, and the command that measured it."""
    return (
        f"Measured on {datetime.now(UTC):%Y-%m-%d} at commit {git_revision()}, on a shared "
        f"machine with\n{cores} cores, with:\n\n```sh\n{command}\n```"
    )


def write_section(title: str, text: str, path: Path = DOC) -> None:
    """Replace the section starting with ``title`` (up to the next ``## `` heading) of
    docs/performance.md, keeping every other section; append it if it is not there yet."""
    current = path.read_text() if path.exists() else DOC_PREAMBLE
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text.rstrip("\n") + "\n\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    path.write_text(updated.rstrip("\n") + "\n")
