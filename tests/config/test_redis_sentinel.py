"""Redis Sentinel by configuration: REDIS_SENTINELS and REDIS_MASTER_NAME send the cache, the
channel layer, Celery's broker and config.redis's client to whichever server is the primary."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from kombu import Connection

from config import redis as hearth_redis
from tests.chat.test_processes import free_port
from tests.conftest import settings_for
from tests.tools import open_folder, program

MASTER = "hearth-test"
SENTINEL_ENV = {
    "REDIS_URL": "redis://:s%40cret@ignored-host:1/3",
    "REDIS_SENTINELS": "10.0.0.5:26379, sentinel-b:26380,[::1]",
    "REDIS_MASTER_NAME": "hearth-main",
    "REDIS_NAMESPACE": "hearth-sentinel",
}
SENTINELS = [("10.0.0.5", 26379), ("sentinel-b", 26380), ("::1", 26379)]


def test_the_sentinels_configure_the_cache_the_channel_layer_and_the_broker():
    conf = settings_for(**SENTINEL_ENV)

    options = conf["CACHES"]["default"]["OPTIONS"]
    assert options["pool_class"] == "config.redis.SentinelPool"
    assert options["sentinels"] == SENTINELS and options["master_name"] == "hearth-main"
    host = conf["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"][0]
    assert "address" not in host
    assert host["sentinels"] == SENTINELS and host["master_name"] == "hearth-main"
    assert (host["db"], host["password"]) == (3, "s@cret")
    assert host["socket_timeout"] is None  # the layer's blocking reads, as without Sentinel
    broker = Connection(
        conf["CELERY_BROKER_URL"], transport_options=conf["CELERY_BROKER_TRANSPORT_OPTIONS"]
    )
    assert broker.transport_cls == "sentinel"
    assert (broker.hostname, broker.port, broker.password) == ("10.0.0.5", 26379, "s@cret")
    assert broker.virtual_host == "3"
    assert len(broker.alt) == 3 and broker.alt[2].startswith("sentinel://:s%40cret@[::1]:26379")
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"]["master_name"] == "hearth-main"
    assert conf["CELERY_BROKER_TRANSPORT_OPTIONS"]["global_keyprefix"] == "hearth-sentinel:"


def test_without_sentinels_nothing_changes():
    conf = settings_for(REDIS_URL="redis://127.0.0.1:6379/3", REDIS_SENTINELS=None)
    assert conf["REDIS_SENTINEL"] is None
    assert conf["CACHES"]["default"]["OPTIONS"] == {}
    assert conf["CHANNEL_LAYERS"]["default"]["CONFIG"]["hosts"][0]["address"] == (
        "redis://127.0.0.1:6379/3"
    )
    assert conf["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/3"


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"REDIS_MASTER_NAME": None}, "REDIS_MASTER_NAME"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"REDIS_URL": "unix:///run/redis.sock"}, "REDIS_URL"),
        ({"REDIS_SENTINELS": "sentinel:port"}, "no valid port"),
        ({"REDIS_SENTINELS": None}, "REDIS_SENTINELS is not"),
    ],
)
def test_an_incomplete_sentinel_configuration_is_refused_at_startup(env, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        settings_for(**{**SENTINEL_ENV, **env})


# --- A real primary, replica and sentinel ---------------------------------------------------------


def _start(args: list[str], folder, name: str) -> subprocess.Popen:
    log = (folder / f"{name}.log").open("w")
    return subprocess.Popen(args, cwd=folder, stdout=log, stderr=subprocess.STDOUT)


def _wait(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def sentinel() -> Iterator[dict[str, Any]]:
    """A Redis primary, a replica and a sentinel watching them, each on a free port; yields
    the settings a Hearth process configured for them has."""
    server = program("redis-server", package="redis-server")
    sentinel_binary = program("redis-sentinel", package="redis-sentinel")
    primary_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with open_folder() as folder:
        (folder / "sentinel.conf").write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER} 1000\n"
            f"sentinel failover-timeout {MASTER} 10000\n"
        )
        processes = [
            _start([server, "--port", str(primary_port), *common], folder, "primary"),
            _start(
                [
                    server,
                    "--port",
                    str(replica_port),
                    "--replicaof",
                    "127.0.0.1",
                    str(primary_port),
                    *common,
                ],
                folder,
                "replica",
            ),
            _start([sentinel_binary, str(folder / "sentinel.conf")], folder, "sentinel"),
        ]
        try:
            replica = redis.Redis(port=replica_port)
            watcher = redis.Redis(port=sentinel_port, decode_responses=True)
            _wait(
                lambda: replica.info("replication")["master_link_status"] == "up",
                20,
                "the replica to follow the primary",
            )
            _wait(
                lambda: len(watcher.sentinel_slaves(MASTER)) == 1,
                30,
                "the sentinel to find the replica",
            )
            conf = settings_for(
                REDIS_URL="redis://primary/0",  # the host is Sentinel's to say
                REDIS_SENTINELS=f"127.0.0.1:{sentinel_port}",
                REDIS_MASTER_NAME=MASTER,
                REDIS_NAMESPACE="hearth-sentinel-test",
            )
            yield {
                "conf": conf,
                "ports": {"primary": primary_port, "replica": replica_port},
                "watcher": watcher,
            }
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=10)


def make_cache(conf: dict[str, Any]):
    params = dict(conf["CACHES"]["default"])
    return import_string(params.pop("BACKEND"))(params.pop("LOCATION"), params)


def primary_port(watcher: redis.Redis) -> int:
    return int(watcher.sentinel_get_master_addr_by_name(MASTER)[1])


def test_the_cache_and_the_client_reach_the_primary_through_the_sentinel(sentinel, settings):
    cache = make_cache(sentinel["conf"])
    cache.set("greeting", "hello", 60)
    assert cache.get("greeting") == "hello"
    primary = redis.Redis(port=primary_port(sentinel["watcher"]))
    assert primary.exists("hearth-sentinel-test:1:greeting")

    settings.REDIS_URL = sentinel["conf"]["REDIS_URL"]
    settings.REDIS_SENTINEL = sentinel["conf"]["REDIS_SENTINEL"]
    hearth_redis.redis_client.cache_clear()
    try:
        client = hearth_redis.redis_client()
        assert client is not None
        client.set("hearth-sentinel-test:direct", "1")
        assert primary.get("hearth-sentinel-test:direct") == b"1"
    finally:
        hearth_redis.redis_client.cache_clear()


async def test_the_channel_layer_sends_and_receives_through_the_sentinel(sentinel):
    conf = sentinel["conf"]["CHANNEL_LAYERS"]["default"]
    layer = import_string(conf["BACKEND"])(**conf["CONFIG"])
    try:
        channel = await layer.new_channel()
        await layer.group_add("room-1", channel)
        await asyncio.sleep(0.2)  # the subscription reaches Redis
        await layer.group_send("room-1", {"type": "room.event", "position": 1})
        assert await asyncio.wait_for(layer.receive(channel), 5) == {
            "type": "room.event",
            "position": 1,
        }
    finally:
        await layer.flush()


def test_the_celery_broker_connects_through_the_sentinel(sentinel):
    conf = sentinel["conf"]
    with Connection(
        conf["CELERY_BROKER_URL"], transport_options=conf["CELERY_BROKER_TRANSPORT_OPTIONS"]
    ) as broker:
        broker.ensure_connection(max_retries=1, timeout=5)
        queue = broker.SimpleQueue("hearth-sentinel-check")
        queue.put({"reminder_id": 7})
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.payload == {"reminder_id": 7}
    primary = redis.Redis(port=primary_port(sentinel["watcher"]))
    assert primary.exists("hearth-sentinel-test:_kombu.binding.hearth-sentinel-check")


def test_after_a_failover_the_cache_follows_the_new_primary(sentinel):
    cache = make_cache(sentinel["conf"])
    cache.set("before", "kept", 300)
    watcher = sentinel["watcher"]
    old = primary_port(watcher)
    redis.Redis(port=old).wait(1, 5000)  # the replica has the key

    watcher.execute_command("SENTINEL", "FAILOVER", MASTER)
    _wait(lambda: primary_port(watcher) != old, 30, "the sentinel to promote the replica")
    new = primary_port(watcher)
    for port, role in ((new, "master"), (old, "slave")):
        _wait(
            lambda port=port, role=role: redis.Redis(port=port).info("replication")["role"] == role,
            30,
            f"the server on {port} to become a {role}",
        )

    assert new == sentinel["ports"]["replica"]
    assert cache.get("before") == "kept"
    # The cache's connection to the old primary is refused the write (it is a replica now), and
    # the pool asks the sentinel again.
    cache.set("after", "written", 300)
    assert redis.Redis(port=new).exists("hearth-sentinel-test:1:after")
