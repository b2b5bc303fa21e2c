"""The pool's health check (config/postgresql/base.py): skipped for a connection back in the
pool less than a second, and a connection that sat longer and was dropped is replaced; a
returned connection goes back in the returning thread, not through one of the pool's workers."""

from __future__ import annotations

import psycopg_pool
import pytest
from django.db import connection

from config.postgresql import base as backend

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def pool():
    params = connection.get_connection_params()
    params["autocommit"] = True
    pool = backend.IdleCheckedPool(
        kwargs=params,
        min_size=1,
        max_size=1,
        check=backend.check_unless_just_returned,
        open=True,
    )
    yield pool
    pool.close()


@pytest.fixture
def checks(monkeypatch) -> list[object]:
    """Every connection psycopg's own check tried."""
    tried: list[object] = []
    original = psycopg_pool.ConnectionPool.check_connection

    def check_connection(conn):
        tried.append(conn)
        original(conn)

    monkeypatch.setattr(psycopg_pool.ConnectionPool, "check_connection", check_connection)
    return tried


def backend_pid(pool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_a_connection_just_returned_is_lent_without_a_round_trip(pool, checks):
    backend_pid(pool)  # a new connection: tried once
    checks.clear()
    for _ in range(5):
        backend_pid(pool)
    assert checks == []


def test_a_connection_that_sat_in_the_pool_is_tried_first(pool, checks, monkeypatch):
    backend_pid(pool)
    checks.clear()
    monkeypatch.setattr(backend, "CHECK_AFTER_IDLE_SECONDS", 0.0)
    backend_pid(pool)
    assert len(checks) == 1


def test_a_dropped_connection_that_sat_in_the_pool_is_replaced(pool, monkeypatch):
    first = backend_pid(pool)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    monkeypatch.setattr(backend, "CHECK_AFTER_IDLE_SECONDS", 0.0)
    assert backend_pid(pool) != first  # the page did not fail


def test_the_application_uses_this_backend_with_its_check():
    assert connection.settings_dict["ENGINE"] == "config.postgresql"
    assert connection.pool._check is backend.check_unless_just_returned


def test_a_returned_connection_is_back_at_once_without_waking_a_worker(pool, monkeypatch):
    pool.wait()
    tasks: list[object] = []
    monkeypatch.setattr(pool, "run_task", tasks.append)
    conn = pool.getconn()
    assert pool.get_stats()["pool_available"] == 0
    pool.putconn(conn)
    assert tasks == []  # psycopg's ``reset`` would hand it to a worker thread
    assert pool.get_stats()["pool_available"] == 1


def test_the_application_pool_notes_returns_itself():
    assert isinstance(connection.pool, backend.IdleCheckedPool)
    assert connection.pool._reset is None
