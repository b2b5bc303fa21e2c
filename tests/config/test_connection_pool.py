"""Pooled database connections: under daphne a page borrows a connection from the process's
pool and gives it back, so steady traffic opens no PostgreSQL backend per request.

Without the pool every request ran in a thread of its own and opened a connection of its own
(1.04 new backends a request, about 6 ms each), whatever CONN_MAX_AGE said.
"""

from __future__ import annotations

import os
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from tests.chat.test_processes import free_port, start_daphne
from tests.conftest import settings_for
from tests.e2e.conftest import SERVER_APP_NAME, wait_for_other_connections_to_close

on_the_test_database = pytest.mark.django_db(transaction=True, serialized_rollback=True)

POOL_MAX = 4
REQUESTS = 50


def backends_started() -> int:
    """How many client backends the test database has ever had (``pg_stat_database``'s
    ``sessions``), as far as the backends have reported it: each reports its own start once its
    first transaction is over, or when it ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def backends_started_once_reported(*, at_least: int = 0) -> int:
    """``backends_started()`` once it has reached ``at_least`` and stopped moving."""
    deadline = time.monotonic() + 15
    count, still_since = backends_started(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = backends_started()
        if now != count:
            count, still_since = now, time.monotonic()
        elif count >= at_least and time.monotonic() - still_since >= 1.5:
            break
    return count


def server_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [SERVER_APP_NAME]
        )
        return cursor.fetchone()[0]


def get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        return response.status


@pytest.fixture
def server_url():
    """daphne on the test database, its pool capped at POOL_MAX connections."""
    port = free_port()
    server = start_daphne(port, DATABASE_POOL_MAX=str(POOL_MAX), CHAT_DB_THREADS="2")
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)
    server.stderr.close()
    wait_for_other_connections_to_close()


def test_a_pool_the_rooms_threads_could_empty_is_refused():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL_MAX"):
        settings_for(CHAT_DB_THREADS="8", DATABASE_POOL_MAX="9")


@on_the_test_database
def test_the_count_of_backends_started_sees_a_new_connection():
    """The measure below can fail: one more connection moves it."""
    before = backends_started_once_reported()
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
    ) as other:
        other.execute("SELECT 1")
    assert backends_started_once_reported(at_least=before + 1) >= before + 1


@on_the_test_database
def test_pages_borrow_pooled_connections_instead_of_opening_one_each(server_url):
    before = backends_started_once_reported()

    statuses = [get(f"{server_url}/groups/") for _ in range(REQUESTS)]
    assert statuses == [200] * REQUESTS
    one_at_a_time = backends_started_once_reported() - before
    # The pool opened a connection (or two) and lent it out again for every request.
    assert 1 <= one_at_a_time <= POOL_MAX, f"{one_at_a_time} backends for {REQUESTS} requests"
    # ... and keeps them for the next request.
    assert 1 <= server_connections() <= POOL_MAX

    # More requests at once than the pool has connections: they wait their turn for one.
    with ThreadPoolExecutor(max_workers=2 * POOL_MAX) as clients:
        statuses = list(clients.map(get, [f"{server_url}/groups/"] * REQUESTS))
    assert statuses == [200] * REQUESTS
    in_all = backends_started_once_reported() - before
    assert in_all <= POOL_MAX, f"{in_all} backends for {2 * REQUESTS} requests"


def redis_connections_received() -> int:
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"]).info("stats")["total_connections_received"]


@pytest.mark.redis
@on_the_test_database
def test_pages_that_use_the_cache_share_the_processs_redis_connections(server_url):
    """Django keeps a cache object per request context, and each made its own pool: under
    daphne every page opened a new connection to Redis (50 for 50 pages before this test)."""
    get(f"{server_url}/groups/")  # the server's first connection
    before = redis_connections_received()

    statuses = [get(f"{server_url}/groups/") for _ in range(REQUESTS)]
    with ThreadPoolExecutor(max_workers=2 * POOL_MAX) as clients:
        statuses += list(clients.map(get, [f"{server_url}/groups/"] * REQUESTS))

    assert statuses == [200] * (2 * REQUESTS)
    opened = redis_connections_received() - before - 1  # the count's own connection
    assert opened <= 2 * POOL_MAX, f"{opened} Redis connections for {2 * REQUESTS} pages"
