"""Real-browser tests: Playwright driving Debian's Chromium against daphne on the test database.

Without Chromium the tests are skipped with the reason shown; with REQUIRE_SERVICES=1 (CI) a
missing browser fails the run instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import deployment_env
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(config, items):
    if Path(CHROMIUM).exists():
        return
    reason = f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    for item in items:
        if "browser" in item.keywords:
            if os.environ.get("REQUIRE_SERVICES") == "1":
                raise pytest.UsageError(f"REQUIRE_SERVICES=1 but Chromium is missing: {reason}")
            item.add_marker(pytest.mark.skip(reason=reason))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server_url(transactional_db):
    """daphne serving the app (HTTP and WebSockets) from the test database."""
    port = _free_port()
    env = {
        **os.environ,
        **deployment_env(),
        "DEBUG": "1",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CHAT_RATE_LIMIT_BURST": "1000",
        "PGAPPNAME": SERVER_APP_NAME,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "config.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(process.stderr.read().decode()[-3000:])
        time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)
    wait_for_other_connections_to_close()


# libpq names the spawned servers' database connections, so teardown can wait for them.
SERVER_APP_NAME = "hearth-test-server"


def wait_for_other_connections_to_close(seconds: float = 10) -> None:
    """A stopped server's database backends linger briefly; PostgreSQL will not drop the test
    database while they do."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                [SERVER_APP_NAME],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


@pytest.fixture
def browser(monkeypatch):
    """Chromium. Playwright's sync API keeps an event loop running in this thread, so Django's
    async-safety check is relaxed for these tests only (the ORM calls stay synchronous)."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
