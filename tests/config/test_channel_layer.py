"""The configured channel layer against the real Redis: a quiet room must not break sockets.

redis-py 8 gives every connection a 5-second read timeout by default, and channels_redis waits
for messages with a blocking pop of the same length, so on an idle channel the read times out
first and every consumer is torn down about every five seconds (channels_redis#422,
redis-py#4091). The layer's reads have no timeout of their own: the blocking pop bounds them.
"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

pytestmark = pytest.mark.redis


async def test_a_receive_outlasts_a_quiet_spell_longer_than_the_blocking_pop():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    quiet = layer.brpop_timeout + 2  # at least one whole blocking pop comes back empty

    async def send_later():
        await asyncio.sleep(quiet)
        await layer.send(channel, {"type": "room.ping", "n": 1})

    sender = asyncio.create_task(send_later())
    message = await asyncio.wait_for(layer.receive(channel), timeout=quiet + 10)
    await sender
    assert message == {"type": "room.ping", "n": 1}


@pytest.mark.parametrize("kind", ["core", "pubsub"])
def test_the_layers_reads_wait_as_long_as_a_blocking_command_needs(kind, monkeypatch):
    import importlib

    import config.settings

    monkeypatch.setenv("CHANNEL_LAYER", kind)
    try:
        reloaded = importlib.reload(config.settings)
        [host] = reloaded.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    finally:
        monkeypatch.delenv("CHANNEL_LAYER")
        importlib.reload(config.settings)
    assert isinstance(host, dict)
    assert host["socket_timeout"] is None  # the blocking pop, not the socket, bounds a read
    assert host["socket_connect_timeout"] <= 10  # a dead Redis is still noticed
