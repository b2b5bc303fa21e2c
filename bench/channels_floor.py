"""The stack's floor for bench/rooms.py: the minimal peer's relay, served by daphne and Channels.

Hearth is built on daphne, Channels and channels-redis (decided). This server does what the
minimal peer (``bench/peer_relay.py``) does, and speaks the same protocol, but through that
stack: a Channels consumer per socket, ``RedisPubSubChannelLayer`` between two processes, and
positions from ``INCR`` in Redis. No Django app, no database, no authentication, no checks;
Channels' per-event ``close_old_connections`` is skipped, as Hearth skips it. So the gap from
the peer to this floor is what the stack itself costs, and the gap from this floor to Hearth
is what Hearth does per message (persisting, ordering, checking). Run by the benchmark as::

    FLOOR_REDIS_URL=redis://127.0.0.1:6379/3 daphne -p 8765 bench.channels_floor:application
"""

from __future__ import annotations

import json
import os
import re

import django
from django.conf import settings

REDIS_URL = os.environ.get("FLOOR_REDIS_URL", "redis://127.0.0.1:6379/3")
settings.configure(
    INSTALLED_APPS=["channels"],
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": 1000,
                        "socket_timeout": None,
                        "socket_connect_timeout": 5,
                    }
                ],
                "prefix": "floor",
            },
        }
    },
)
django.setup()

import redis.asyncio as aioredis  # noqa: E402
from channels.consumer import get_handler_name  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter  # noqa: E402

PATH = re.compile(r"^/ws/sessions/(\d+)/$")
_redis = aioredis.Redis.from_url(REDIS_URL, max_connections=256)


class RelayConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        match = PATH.match(self.scope["path"])
        if match is None:
            await self.close()
            return
        self.room = match.group(1)
        self.group = f"room.{self.room}"
        self.counter = f"room:{self.room}:pos"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        last = int(await _redis.get(self.counter) or 0)
        await self.send(json.dumps({"type": "history.end", "position": last}))

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        try:
            event = json.loads(text_data or "")
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("type") != "message.send":
            return
        client_id = event.get("client_id")
        position = await _redis.incr(self.counter)
        payload = {
            "type": "message",
            "position": position,
            "body": event.get("body"),
            "client_id": client_id,
        }
        await self.channel_layer.group_send(
            self.group, {"type": "relay", "text": json.dumps(payload)}
        )
        ack = {"type": "message.ack", "client_id": client_id, "position": position}
        await self.send(json.dumps({**ack, "duplicate": False}))

    async def relay(self, event):
        await self.send(text_data=event["text"])


async def ping(scope, receive, send):
    """``/ping/`` for the benchmark's readiness check; everything else is 404."""
    await receive()
    status = 200 if scope["path"] == "/ping/" else 404
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b"ok" if status == 200 else b""})


application = ProtocolTypeRouter({"http": ping, "websocket": RelayConsumer.as_asgi()})
