"""Everything a deployment keeps in Redis is named under one namespace, and one client per
process talks to Redis directly on the few hot paths.

Two deployments (a staging and a production, two laptops) may share one Redis, and pub/sub
channels ignore the database number, so a different database number does not keep them
apart: only names do. :func:`redis_namespace` makes the one name, ``settings.REDIS_NAMESPACE``,
and settings put it in front of every key family: the cache's ``KEY_PREFIX``, the channel
layer's ``prefix``, kombu's ``global_keyprefix`` (Celery's queues, bindings, unacked messages
and its control and event channels) and :func:`redis_key` for the keys written here.

Django's Redis cache keeps its connection pool on the cache object, and under ASGI there is a
new cache object for every request (Django keeps them per request context), so every page
opened a new connection to Redis: :class:`SharedPoolRedisCache` keeps one pool per process.

Django's Redis cache builds a new client object for every call (about 100 µs, more than the
round trip itself), which is fine for a page and too much per chat message or per email, hence
:func:`redis_client`. Without ``REDIS_URL`` (a copy with no configuration) there is no client
and callers fall back to the cache, which is then in-process.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import salted_hmac
from redis.connection import parse_url
from redis.sentinel import Sentinel, SentinelConnectionPool

# Letters, digits and hyphens: every family adds its own separator after the namespace (":"
# or "."), which no namespace contains, so no namespace's names begin with another's. Short
# enough for a channel name (at most 100 characters, 42 of them the layer's own).
_NAMESPACE = re.compile(r"[A-Za-z0-9-]{1,40}")


def redis_namespace(configured: str, *, database: Mapping[str, Any], secret_key: str) -> str:
    """``configured`` (the ``REDIS_NAMESPACE`` variable) if set, else one derived from the
    deployment: every process of a deployment (web, worker and beat, on any host) shares its
    database and ``SECRET_KEY`` and so agrees, while another deployment differs in one of them
    (a staging and a production on the same database server differ in the database name; two
    containers each calling their database ``db/hearth`` differ in their keys). The password is
    not used, and nothing readable is: an HMAC of the database's address under the secret key,
    so a namespace tells nobody the address or anything about the key.

    ``database`` is the parsed ``DATABASES["default"]`` (the embedded server's socket folder is
    its ``HOST``)."""
    if configured:
        if not _NAMESPACE.fullmatch(configured):
            raise ImproperlyConfigured(
                "REDIS_NAMESPACE may hold only letters, digits and hyphens (at most 40)."
            )
        return configured
    address = "\n".join(
        [str(database.get("HOST") or ""), str(database.get("PORT") or 5432), database["NAME"]]
    )
    digest = salted_hmac("hearth.redis-namespace", address, secret_key, algorithm="sha256")
    return f"hearth-{digest.hexdigest()[:12]}"


# What a Redis that is away (restarting, failing over) raises to a caller of redis_client().
RedisUnreachable = (redis.ConnectionError, redis.TimeoutError)


@functools.cache
def redis_client() -> redis.Redis | None:
    """The process's client (its pool reconnects after a fork), or None without Redis. With
    Sentinel, its connections go to whichever server Sentinel names the primary."""
    if not settings.REDIS_URL:
        return None
    if settings.REDIS_SENTINEL:
        return redis.Redis(
            connection_pool=SentinelPool.from_url(settings.REDIS_URL, **settings.REDIS_SENTINEL)
        )
    return redis.Redis.from_url(settings.REDIS_URL)


# --- The cache's connections --------------------------------------------------------------------

_SHARED: dict[tuple[Any, ...], redis.Redis] = {}
_SHARED_LOCK = threading.Lock()


class _SharedPoolClient(RedisCacheClient):
    """Django's cache client, with its pools and client objects kept for the process, by
    server and options. redis-py's pools are thread-safe and start afresh after a fork."""

    _pool_class: Any
    _pool_options: dict[str, Any]
    _servers: list[str]

    def __init__(self, servers: list[str], **options: Any) -> None:
        super().__init__(servers, **options)
        self._options_key = repr(sorted(self._pool_options.items()))

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        server = self._servers[self._get_connection_pool_index(write)]  # type: ignore[attr-defined]
        shape = (self._pool_class, server, self._options_key)
        client = _SHARED.get(shape)
        if client is None:
            with _SHARED_LOCK:
                client = _SHARED.get(shape)
                if client is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    client = _SHARED[shape] = redis.Redis(connection_pool=pool)
        return client


class SharedPoolRedisCache(RedisCache):
    """Django's ``RedisCache`` with one connection pool per process rather than one per
    request context (under ASGI, a new connection to Redis for every page: see
    django/django#18459). Takes the same ``LOCATION`` and ``OPTIONS``."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedPoolClient


# --- Redis Sentinel ------------------------------------------------------------------------------


def sentinel_addresses(value: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` (``[::1]:26379`` for an IPv6 address; the port defaults to
    26379) as the (host, port) pairs redis-py, channels_redis and kombu take."""
    addresses = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        parts = urlsplit(f"//{item}")
        try:
            port = parts.port or 26379
        except ValueError as error:
            raise ImproperlyConfigured(f"REDIS_SENTINELS: {item} has no valid port.") from error
        if not parts.hostname:
            raise ImproperlyConfigured(f"REDIS_SENTINELS: {item} is not host:port.")
        addresses.append((parts.hostname, port))
    return addresses


def sentinel_broker_url(url: str, sentinels: list[tuple[str, int]]) -> str:
    """Celery's broker URL for these sentinels: kombu's ``sentinel://`` form, one per sentinel
    joined by ``;``, each carrying ``url``'s user, password and database (kombu reads them from
    the first, and connects to the primary with them)."""
    parts = urlsplit(url)
    login = ""
    if parts.username or parts.password:
        login = quote(unquote(parts.username or ""), safe="")
        if parts.password:
            login += ":" + quote(unquote(parts.password), safe="")
        login += "@"
    database = parts.path.lstrip("/") or "0"
    return ";".join(
        f"sentinel://{login}{f'[{host}]' if ':' in host else host}:{port}/{database}"
        for host, port in sentinels
    )


class SentinelPool(SentinelConnectionPool):
    """Connections to the primary that Sentinel names, re-asked after a failover. Django's
    ``RedisCache`` makes its pools with ``from_url``: give it this class as ``pool_class``, and
    the sentinels and the primary's name in ``OPTIONS``."""

    @classmethod
    def from_url(  # type: ignore[override]
        cls,
        url: str,
        *,
        sentinels: list[tuple[str, int]],
        master_name: str,
        sentinel_kwargs: dict[str, Any] | None = None,
        **options: Any,
    ) -> SentinelPool:
        """A pool for ``url``'s database, user and password (its host and port are not used:
        Sentinel says where the primary is)."""
        params = parse_url(url)
        for unused in ("host", "port", "path", "connection_class"):
            params.pop(unused, None)
        manager = Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs)
        return cls(master_name, manager, **{**params, **options})


def redis_key(name: str) -> str:
    """``name`` in this deployment's namespace."""
    return f"{settings.REDIS_NAMESPACE}:{name}"
