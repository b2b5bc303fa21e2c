"""One Redis client per process, for the few hot paths that talk to Redis directly.

Django's Redis cache builds a new client object for every call (about 100 µs, more than the
round trip itself), which is fine for a page and too much per chat message or per email. Keys
carry the cache's prefix, so ``cache.clear()`` and the cache's namespace cover them too.
Without ``REDIS_URL`` (a copy with no configuration) there is no client and callers fall back
to the cache, which is then in-process.
"""

from __future__ import annotations

import functools

import redis
from django.conf import settings


@functools.cache
def redis_client() -> redis.Redis | None:
    """The process's client (its pool reconnects after a fork), or None without Redis."""
    return redis.Redis.from_url(settings.REDIS_URL) if settings.REDIS_URL else None


def redis_key(name: str) -> str:
    """``name`` in this deployment's namespace (the cache's key prefix)."""
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{name}"
