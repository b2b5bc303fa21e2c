"""Django's PostgreSQL backend, whose connection pool tries a connection only after it sat idle.

Django gives psycopg's pool a health check (``CONN_HEALTH_CHECKS``) that sends an empty query
before every loan: a round trip on every request, for a connection that, under load, came back
from another request a few milliseconds before. Here the pool's check does what PgBouncer's
``server_check_delay`` does: a connection that went back to the pool less than
``CHECK_AFTER_IDLE_SECONDS`` ago is lent as it is; one that sat there longer (where a server
restart, a failover or an idle timeout may have closed it) is tried first, and replaced if the
try fails. What is given up: a request that borrows a connection within that second after the
server dropped it fails, as a request already running at that moment would.

The time a connection went back is noted by the pool's ``putconn`` itself, not by psycopg's
``reset`` callback: with a ``reset``, the pool hands every returned connection to one of its
worker threads, so each request ended by waking a thread (and contending with it for the GIL).

``DatabaseWrapper.pool`` is Django's own (5.2), with that pool and check; everything else is
Django's. ``settings.DATABASES`` names this module as the ``ENGINE``.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

CHECK_AFTER_IDLE_SECONDS = 1.0

# When each pooled connection last went back to the pool (``IdleCheckedPool.putconn``).
_returned: weakref.WeakKeyDictionary[psycopg.Connection[Any], float] = weakref.WeakKeyDictionary()


def check_unless_just_returned(connection: psycopg.Connection[Any]) -> None:
    """The pool's ``check``: raise if ``connection`` is broken, trying it only if it sat in the
    pool ``CHECK_AFTER_IDLE_SECONDS`` or more, or is new to the pool."""
    returned = _returned.get(connection)
    if returned is not None and time.monotonic() - returned < CHECK_AFTER_IDLE_SECONDS:
        return
    ConnectionPool.check_connection(connection)


class IdleCheckedPool(ConnectionPool):
    """psycopg's pool, noting when each connection comes back (for
    ``check_unless_just_returned``); the connection is put back in the returning thread."""

    def putconn(self, conn: psycopg.Connection[Any]) -> None:
        _returned[conn] = time.monotonic()
        super().putconn(conn)


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not pool_options:
            return None
        if self.alias not in self._connection_pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            if pool_options is True:
                pool_options = {}
            connect_kwargs = self.get_connection_params()
            connect_kwargs["autocommit"] = True  # Django sets it properly later on
            checks = self.settings_dict["CONN_HEALTH_CHECKS"]
            pool = IdleCheckedPool(
                kwargs=connect_kwargs,
                open=False,  # not while Django starts
                configure=self._configure_connection,
                check=check_unless_just_returned if checks else None,
                **pool_options,
            )
            # setdefault: should threads build pools at once, the first one set wins.
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]
