"""The minimal peer for bench/rooms.py: a plain ``websockets`` relay through Redis pub/sub.

No Django, no database, no authentication, no checks: it is the floor that the live rooms are
compared with. It speaks just enough of the room protocol (docs/protocol.md) for the load
generator to drive it and Hearth alike:

- ``/ws/sessions/<id>/``: on connect, the socket joins room ``<id>``; the process subscribes to
  the Redis channel ``room:<id>`` (once per process and room, shared by its sockets) and then
  sends ``{"type": "history.end", "position": <last position>}``, so the client knows it will
  see everything published from then on;
- every payload published to ``room:<id>`` is forwarded as it is to every socket of the room in
  this process (``websockets.broadcast``);
- ``{"type": "message.send", "client_id": ..., "body": ...}`` takes the next position with
  ``INCR room:<id>:pos``, publishes ``{"type": "message", "position": ..., "body": ...,
  "client_id": ...}`` to ``room:<id>`` and answers ``{"type": "message.ack", "client_id": ...,
  "position": ..., "duplicate": false}``.

Positions are unique and gap-free, but two processes may publish them out of order (INCR and
PUBLISH are two round trips); Hearth guarantees order, this relay does not. Run::

    .venv/bin/python bench/peer_relay.py --port 8765 [--redis-url redis://127.0.0.1:6379/3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import signal
from http import HTTPStatus

import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

PATH = re.compile(r"^/ws/sessions/(\d+)/(?:\?.*)?$")

logger = logging.getLogger("peer_relay")


class Relay:
    """One process's rooms: the local sockets of each, and one shared Redis subscription."""

    def __init__(self, redis_url: str) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, max_connections=256)
        self.pubsub = self.redis.pubsub()
        self.rooms: dict[str, set[ServerConnection]] = {}  # Redis channel -> local sockets
        self.lock = asyncio.Lock()  # subscribe / unsubscribe one at a time
        self.reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        """Forward every published payload to the room's sockets in this process."""
        while True:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep relaying; the socket side notices missing messages
                logger.exception("pub/sub read failed")
                await asyncio.sleep(0.1)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"].decode()
            sockets = self.rooms.get(channel)
            if sockets:
                broadcast(sockets, message["data"], text=True)

    async def join(self, channel: str, socket: ServerConnection) -> None:
        async with self.lock:
            sockets = self.rooms.setdefault(channel, set())
            first = not sockets
            sockets.add(socket)
            if first:
                await self.pubsub.subscribe(channel)
            if self.reader is None:
                self.reader = asyncio.create_task(self.read())

    async def leave(self, channel: str, socket: ServerConnection) -> None:
        async with self.lock:
            sockets = self.rooms.get(channel, set())
            sockets.discard(socket)
            if not sockets and channel in self.rooms:
                del self.rooms[channel]
                await self.pubsub.unsubscribe(channel)

    async def handle(self, socket: ServerConnection) -> None:
        assert socket.request is not None
        match = PATH.match(socket.request.path)
        assert match is not None  # refused in process_request otherwise
        room = match.group(1)
        channel = f"room:{room}"
        counter = f"room:{room}:pos"
        await self.join(channel, socket)
        try:
            last = int(await self.redis.get(counter) or 0)
            await socket.send(json.dumps({"type": "history.end", "position": last}))
            async for frame in socket:
                try:
                    event = json.loads(frame)
                except ValueError:
                    continue
                if not isinstance(event, dict) or event.get("type") != "message.send":
                    continue
                client_id = event.get("client_id")
                position = await self.redis.incr(counter)
                payload = {
                    "type": "message",
                    "position": position,
                    "body": event.get("body"),
                    "client_id": client_id,
                }
                await self.redis.publish(channel, json.dumps(payload))
                await socket.send(
                    json.dumps(
                        {
                            "type": "message.ack",
                            "client_id": client_id,
                            "position": position,
                            "duplicate": False,
                        }
                    )
                )
        except ConnectionClosed:
            pass  # the client went away (the benchmark closes sockets without a handshake)
        finally:
            await self.leave(channel, socket)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        await self.pubsub.aclose()
        await self.redis.aclose()


def refuse_other_paths(connection: ServerConnection, request: Request) -> Response | None:
    if PATH.match(request.path):
        return None
    return connection.respond(HTTPStatus.NOT_FOUND, "Not found\n")


async def run(host: str, port: int, redis_url: str) -> None:
    relay = Relay(redis_url)
    await relay.redis.ping()  # fail at start, not at the first message
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        relay.handle,
        host,
        port,
        process_request=refuse_other_paths,
        compression=None,  # as daphne: no permessage-deflate
        ping_interval=None,
        max_queue=64,
    ):
        print(f"peer relay listening on ws://{host}:{port}/ws/sessions/<id>/", flush=True)
        await stop
    await relay.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.host, args.port, args.redis_url))


if __name__ == "__main__":
    main()
