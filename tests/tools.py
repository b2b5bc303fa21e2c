"""Programs from Debian's packages that some tests start themselves (PgBouncer, Redis Sentinel).

Without the program a test is skipped with the reason shown; with REQUIRE_SERVICES=1 (CI, whose
.ci/run installs them) a missing program fails the test instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


def program(name: str, *, package: str) -> str:
    """The path of ``name`` (looked for in PATH and /usr/sbin), or skip (fail under
    REQUIRE_SERVICES=1) saying which package brings it."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found:
        return found
    reason = f"needs {name} (apt-get install {package})"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def open_folder() -> Iterator[Path]:
    """A temporary folder that a program dropping root for another user can still use
    (pytest's own temporary folders are root's alone); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="hearth-"))
    try:
        folder.chmod(0o777)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def database_conninfo(database: str) -> str:
    """How to reach ``database`` on the test database's server, as the tests' own role."""
    from django.db import connection

    server = connection.settings_dict
    return psycopg.conninfo.make_conninfo(
        host=server["HOST"] or "",
        port=str(server["PORT"] or ""),
        user=server["USER"],
        password=server["PASSWORD"] or "",
        dbname=database,
    )
