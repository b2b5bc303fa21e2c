"""Shared fixtures: the real services, and the personas every view is tested against.

Personas: ``member`` (a client), ``therapist``, ``peer_supervisor``, ``staff_user`` and the
``outsider``, who must be refused everywhere. Privileged personas have two-step login set up,
as the platform requires; ``*_without_mfa`` fixtures give the state before that.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any
from urllib.parse import quote

import pytest
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.core.cache import cache
from django.db import connection

from accounts.roles import Role
from tests.factories import UserFactory, add_totp

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get("DATABASE_URL"):
        from config import localdb

        if not localdb.is_running():
            raise pytest.UsageError(
                "The embedded PostgreSQL is not running: use `make test` (which starts it), "
                "or `.venv/bin/python -m config.localdb start` first, or set DATABASE_URL."
            )
    if not REQUIRE_SERVICES:
        return
    if not os.environ.get("REDIS_URL"):
        raise pytest.UsageError("REQUIRE_SERVICES=1 but REDIS_URL is not set.")
    import redis

    try:
        redis.Redis.from_url(os.environ["REDIS_URL"]).ping()
    except redis.RedisError as error:
        raise pytest.UsageError(f"REQUIRE_SERVICES=1 but Redis is unreachable: {error}") from error


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    has_redis = bool(os.environ.get("REDIS_URL"))
    for item in items:
        # A transactional test empties the database after itself; without serialized_rollback
        # that flush runs post_migrate, which creates the role groups again, and the next test
        # that restores the serialized data then fails on them (seen: 76 errors in CI).
        db = item.get_closest_marker("django_db")
        if (
            db is not None
            and db.kwargs.get("transaction")
            and not db.kwargs.get("serialized_rollback")
        ):
            raise pytest.UsageError(
                f"{item.nodeid}: use django_db(transaction=True, serialized_rollback=True)"
            )
        if "redis" in item.keywords and not has_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis: set REDIS_URL"))


@pytest.fixture(autouse=True, scope="session")
def _threads_let_go_before_the_test_database_goes(django_db_setup, django_db_blocker):
    """The test database cannot be dropped while a connection is on it, and the pool's close
    cannot take back what is lent out: the room's database threads keep theirs between calls
    (they give them back here), and so do the threads that ran async tests' ORM calls, which no
    request ever ends (their backends are ended here; every server the tests started is gone)."""
    yield
    from chat.db_threads import db_threads_release

    with django_db_blocker.unblock():
        db_threads_release()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND usename = current_user"
            )


@pytest.fixture(autouse=True, scope="session")
def _celery_runs_tasks_in_process():
    """Tasks run where they are enqueued (after commit), so tests see their effects.

    The broker is exercised by the background-jobs fault tests, not here.
    """
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A new channel layer per test: each async test runs in its own event loop, and
    channels_redis binds its locks and connections to the loop that created them."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(autouse=True)
def _fresh_cache_and_fast_hashing(settings: pytest.FixtureRequest) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()


def settings_for(**env: str | None) -> dict[str, Any]:
    """What ``config.settings`` holds in a process started with ``env`` added to this one's
    (None unsets a variable). This process's Django settings are left as they are."""
    import config.settings

    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            return dict(vars(importlib.reload(config.settings)))
    finally:
        importlib.reload(config.settings)


# --- Processes on the test database --------------------------------------------------------------


def subprocess_database_url() -> str:
    """The test database as a ``DATABASE_URL`` for a server or worker started as a subprocess,
    connected as the application's role, as a running Hearth is (the tests themselves connect
    as the owner, who makes the test database); as the owner where that role does not exist.

    The subprocess sees only committed rows: use ``django_db(transaction=True)``.
    """
    from django.conf import settings as django_settings

    settings = connection.settings_dict
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [django_settings.DATABASE_APP_ROLE]
        )
        app_role_exists = cursor.fetchone() is not None
    if app_role_exists:
        login = quote(django_settings.DATABASE_APP_ROLE, safe="")
    else:
        login = quote(settings["USER"], safe="")
        if settings["PASSWORD"]:
            login += ":" + quote(settings["PASSWORD"], safe="")
    # The host may be a socket folder (the embedded server's), which must be quoted whole.
    address = quote(settings["HOST"] or "", safe="")
    if settings["PORT"]:
        address += f":{settings['PORT']}"
    return f"postgres://{login}@{address}/{settings['NAME']}"


def deployment_env() -> dict[str, str]:
    """The environment that makes a server or worker started as a subprocess part of the test
    process's deployment: the test database, and the test process's Redis namespace (which the
    subprocess would otherwise derive from the test database's name, not the one settings
    were made with, and so be a deployment of its own)."""
    from django.conf import settings

    return {"DATABASE_URL": subprocess_database_url(), "REDIS_NAMESPACE": settings.REDIS_NAMESPACE}


def wait_for_connections_to_close(application_name: str, seconds: float = 10) -> None:
    """Wait until no database connection named ``application_name`` (set a subprocess's
    ``PGAPPNAME``) is left: a stopped process's backends linger briefly, and PostgreSQL will not
    flush or drop the test database while they hold it."""
    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                [application_name],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.1)


# --- Personas ------------------------------------------------------------------------------------


@pytest.fixture
def member(db):
    """A client: enrolled in groups, no privileges."""
    return UserFactory(display_name="Quiet Otter")


@pytest.fixture
def outsider(db):
    """Someone with an account and no business with anyone else's things."""
    return UserFactory(display_name="Passing Stranger")


@pytest.fixture
def therapist_without_mfa(db):
    return UserFactory(display_name="Harbor Light", roles=[Role.THERAPIST])


@pytest.fixture
def therapist(therapist_without_mfa):
    add_totp(therapist_without_mfa)
    return therapist_without_mfa


@pytest.fixture
def peer_supervisor_without_mfa(db):
    return UserFactory(display_name="Steady Oak", roles=[Role.THERAPIST, Role.PEER_SUPERVISOR])


@pytest.fixture
def peer_supervisor(peer_supervisor_without_mfa):
    add_totp(peer_supervisor_without_mfa)
    return peer_supervisor_without_mfa


@pytest.fixture
def staff_user_without_mfa(db):
    return UserFactory(display_name="Sam from Hearth", roles=[Role.STAFF])


@pytest.fixture
def staff_user(staff_user_without_mfa):
    add_totp(staff_user_without_mfa)
    return staff_user_without_mfa


@pytest.fixture
def superuser(db):
    user = UserFactory(display_name="Root Keeper", is_superuser=True, is_staff=True)
    add_totp(user)
    return user


def login_with_password(client, user) -> None:
    """Log in through allauth's form, as a person does (allauth then counts the login as
    recent, which it asks for before MFA changes)."""
    from django.urls import reverse

    from tests.factories import PASSWORD

    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302, "login failed"
    assert client.session["_auth_user_id"] == str(user.pk)


def reauthenticate(client) -> None:
    """Re-enter the password, as allauth asks before any change to two-step login."""
    from django.urls import reverse

    from tests.factories import PASSWORD

    response = client.post(reverse("account_reauthenticate"), {"password": PASSWORD})
    assert response.status_code == 302, "reauthentication failed"


def totp_code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
