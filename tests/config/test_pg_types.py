"""config.pg_types: timestamps read by psycopg's C loader, as Django's own loader reads them."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from config.pg_types import timestamptz_loader, use_fast_timestamps
from groups.models import GroupSession

VALUES = [
    "2026-12-02 06:00:00+00",
    "2026-12-02 06:00:00.123456+00",
    "2026-03-29 01:30:00+02",
    "1999-12-31 23:59:59.999999-05:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59+00",
    "2024-02-29 12:00:00+14",
]


@pytest.mark.parametrize(
    ("zone", "in_utc"),
    [
        (datetime.UTC, True),  # psycopg's C loader as it is
        (datetime.UTC, False),
        (datetime.timezone(datetime.timedelta(hours=3)), False),
    ],
)
@pytest.mark.django_db
def test_the_fast_loader_reads_what_djangos_reads(zone, in_utc):
    connection.ensure_connection()
    context = connection.connection
    assert context.info.parameter_status("TimeZone") == "UTC"  # as Django sets it

    class Djangos(BaseTzLoader):
        timezone = zone

    fast = timestamptz_loader(zone, connection_in_utc=in_utc)(1184, context)
    slow = Djangos(1184, context)
    for text in VALUES:
        mine, theirs = fast.load(text.encode()), slow.load(text.encode())
        assert mine == theirs and mine.tzinfo is theirs.tzinfo is zone, text


@pytest.mark.django_db
def test_connections_read_timestamps_with_the_fast_loader(therapist):
    from tests.factories import make_group, make_session

    make_session(make_group(therapist), days_ahead=2)
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, 0)  # timestamptz, text
    assert loader is timestamptz_loader(connection.timezone, connection_in_utc=True)
    assert "load" not in vars(loader)  # psycopg's C loader's own, no Python call per value
    starts = GroupSession.objects.values_list("starts_at", flat=True).get()
    assert starts.tzinfo is datetime.UTC


@pytest.mark.django_db
def test_a_connection_not_in_utc_gets_the_loader_that_reads_as_djangos():
    """Django sets its connections to its own zone; should one not be, its timestamps are
    read as Django's loader reads them (not by psycopg's alone, whose zone would differ)."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
    try:
        use_fast_timestamps(sender=None, connection=connection)
        loader = connection.connection.adapters.get_loader(1184, 0)
        assert loader is timestamptz_loader(connection.timezone, connection_in_utc=False)

        class Djangos(BaseTzLoader):
            timezone = connection.timezone

        theirs = Djangos(1184, connection.connection)
        with connection.cursor() as cursor:
            for text in VALUES[:4]:
                cursor.execute("SELECT %s::timestamptz::text, %s::timestamptz", [text, text])
                shown, value = cursor.fetchone()
                assert value == theirs.load(shown.encode())
                assert value.tzinfo is datetime.UTC
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        use_fast_timestamps(sender=None, connection=connection)
