"""The configured channel layer against the real Redis: a quiet room must not break sockets.

redis-py 8 gives every connection a 5-second read timeout by default, and channels_redis waits
for messages with a blocking pop of the same length, so on an idle channel the read times out
first and every consumer is torn down about every five seconds (channels_redis#422,
redis-py#4091). The layer's reads have no timeout of their own: the blocking pop bounds them.
The default layer is the pub/sub one (see config/settings.py); both are held to this.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import settings_for

pytestmark = pytest.mark.redis


def configured_layer(kind: str) -> dict:
    """CHANNEL_LAYERS["default"] as settings make it for ``kind``."""
    return settings_for(CHANNEL_LAYER=kind)["CHANNEL_LAYERS"]["default"]


@pytest.mark.parametrize("kind", ["core", "pubsub"])
async def test_a_receive_outlasts_a_quiet_spell_longer_than_a_read_timeout(kind):
    """Longer than the core layer's blocking pop and than redis-py's default read timeout."""
    from django.utils.module_loading import import_string

    configured = configured_layer(kind)
    layer = import_string(configured["BACKEND"])(**configured["CONFIG"])
    channel = await layer.new_channel()
    quiet = getattr(layer, "brpop_timeout", 5) + 2  # a whole empty pop or read goes by

    async def send_later():
        await asyncio.sleep(quiet)
        await layer.send(channel, {"type": "room.ping", "n": 1})

    try:
        sender = asyncio.create_task(send_later())
        message = await asyncio.wait_for(layer.receive(channel), timeout=quiet + 10)
        await sender
    finally:
        await layer.flush()
    assert message == {"type": "room.ping", "n": 1}


@pytest.mark.parametrize("kind", ["core", "pubsub"])
def test_the_layers_reads_wait_as_long_as_a_blocking_command_needs(kind):
    configured = configured_layer(kind)
    [host] = configured["CONFIG"]["hosts"]
    assert isinstance(host, dict)
    assert host["socket_timeout"] is None  # the blocking pop, not the socket, bounds a read
    assert host["socket_connect_timeout"] <= 10  # a dead Redis is still noticed


def test_the_default_layer_is_the_pubsub_one_the_benchmark_chose():
    from channels_redis.pubsub import RedisPubSubChannelLayer

    from chat.layer import ResilientPubSubChannelLayer

    backend = settings_for(CHANNEL_LAYER=None)["CHANNEL_LAYERS"]["default"]["BACKEND"]
    assert backend == "chat.layer.ResilientPubSubChannelLayer"  # that one, riding out outages
    assert issubclass(ResilientPubSubChannelLayer, RedisPubSubChannelLayer)
