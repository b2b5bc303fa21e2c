"""config.pg_types: timestamps read by psycopg's C loader, as Django's own loader reads them."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader

from config.pg_types import timestamptz_loader
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


@pytest.mark.parametrize("zone", [datetime.UTC, datetime.timezone(datetime.timedelta(hours=3))])
@pytest.mark.django_db
def test_the_fast_loader_reads_what_djangos_reads(zone):
    connection.ensure_connection()
    context = connection.connection

    class Djangos(BaseTzLoader):
        timezone = zone

    fast = timestamptz_loader(zone)(1184, context)
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
    assert loader is timestamptz_loader(connection.timezone)
    starts = GroupSession.objects.values_list("starts_at", flat=True).get()
    assert starts.tzinfo is datetime.UTC
