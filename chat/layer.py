"""The channel layer, made to ride out a Redis outage instead of closing every socket.

The database is the truth and the channel layer only the fast path (docs/architecture.md,
"Live rooms"). channels_redis' pub/sub layer already subscribes again by itself when Redis
returns (redis-py re-issues the subscriptions on reconnecting), but while Redis is away:

- every publish (``group_send``, ``send``) and subscribe (``group_add``, ``new_channel``)
  raised, and a consumer whose handler raised was closed with 1011, so a restart of Redis of
  three seconds closed every socket of every room;
- its receiving task logged a traceback every second.

``ResilientPubSubChannelLayer`` keeps them from failing: a publish that cannot reach Redis is
dropped (the message is stored; sockets fill it in from the database, see
``chat.relay.RoomsHere``, which delivers from the database for as long as the outage lasts), a
subscription that cannot be made is made when Redis is back, and the outage is logged once
when it begins and once when it ends (``OUTAGE``, which the relay and the metrics read).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
    _wrap_close,
)

from config import metrics

logger = logging.getLogger(__name__)

# What a Redis that is away raises (redis-py's errors are OSError's or its own).
try:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    UNREACHABLE: tuple[type[BaseException], ...] = (
        RedisConnectionError,
        RedisTimeoutError,
        OSError,
    )
except ImportError:  # pragma: no cover - redis is a dependency of channels_redis
    UNREACHABLE = (OSError,)


class Outage:
    """Whether this process can reach the channel layer's Redis, told once per change."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.outages = 0
        self.errors = 0
        self._shards: weakref.WeakSet[_ResilientShard] = weakref.WeakSet()

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, error: BaseException) -> None:
        self.errors += 1
        metrics.channel_layer_errors_total.inc()
        if self.since is None:
            self.since = time.monotonic()
            self.outages += 1
            metrics.channel_layer_outages_total.inc()
            logger.warning(
                "channel layer: Redis is unreachable (%s); rooms deliver from the database "
                "until it is back",
                type(error).__name__,
            )

    def reached(self) -> None:
        if self.since is None:
            return
        lasted = time.monotonic() - self.since
        self.since = None
        logger.warning("channel layer: Redis is back after %.1f s", lasted)
        for shard in list(self._shards):
            shard.after_recovery()


OUTAGE = Outage()


class _ResilientShard(RedisSingleShardConnection):
    """One Redis connection of the layer, which waits out an outage instead of raising."""

    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._unsubscribed: set[str] = set()  # subscriptions that failed, made on recovery
        self._loop = asyncio.get_running_loop()
        OUTAGE._shards.add(self)

    async def publish(self, channel: str, message: Any) -> None:
        try:
            await super().publish(channel, message)
        except UNREACHABLE as error:
            OUTAGE.failed(error)
        else:
            OUTAGE.reached()

    async def subscribe(self, channel: str) -> None:
        try:
            await super().subscribe(channel)
        except UNREACHABLE as error:
            OUTAGE.failed(error)
            self._unsubscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._unsubscribed.discard(channel)
        try:
            await super().unsubscribe(channel)
        except UNREACHABLE as error:
            OUTAGE.failed(error)
            self._subscribed_to.discard(channel)

    def after_recovery(self) -> None:
        if self._unsubscribed and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._subscribe_again()))

    async def _subscribe_again(self) -> None:
        pending, self._unsubscribed = self._unsubscribed, set()
        for channel in pending:
            await self.subscribe(channel)

    async def _do_receiving(self) -> None:
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=0.1
                    )
                    OUTAGE.reached()
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, GeneratorExit):
                raise
            except UNREACHABLE as error:  # redis-py connects and subscribes again next time
                OUTAGE.failed(error)
                await asyncio.sleep(0.5)
            except Exception:
                logger.exception("channel layer: unexpected error while receiving")
                await asyncio.sleep(1)


class _ResilientLoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_ResilientShard(shard.host, self) for shard in self._shards]


class ResilientPubSubChannelLayer(RedisPubSubChannelLayer):
    """channels_redis' pub/sub layer that rides out a Redis outage (see the module)."""

    def _get_layer(self) -> RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _ResilientLoopLayer(
                *self._args, **self._kwargs, channel_layer=self
            )
            _wrap_close(self, loop)
        return layer
