"""Two deployments sharing one Redis keep apart.

Everything a deployment puts in Redis is named under its ``REDIS_NAMESPACE`` (config/redis.py):
cache keys, the keys written directly, the channel layer's groups and channels, and Celery's
queues, bindings and control channels. A database number is not enough on its own: Redis's
pub/sub channels are shared by every database, and the default channel layer is pub/sub.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from urllib.parse import quote, urlsplit

import dj_database_url
import pytest
from asgiref.sync import sync_to_async
from celery import Celery
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from config import localdb
from config.redis import redis_client, redis_key, redis_namespace
from tests.chat.conftest import open_session, session_cookie
from tests.chat.test_processes import daphne_servers, drain_until, open_socket
from tests.conftest import settings_for
from tests.factories import make_group, make_member

SECRET = "a-production-secret-key-of-fifty-characters-or-so-x"
PRODUCTION = "postgres://hearth:hunter2@db.internal:5432/hearth"
DEV_SECRET = "dev-only-insecure-key-never-use-in-production"


def derived(url: str, secret_key: str = SECRET) -> str:
    return redis_namespace("", database=dj_database_url.parse(url), secret_key=secret_key)


# --- The namespace -------------------------------------------------------------------------------


def test_every_process_of_a_deployment_derives_the_same_namespace():
    """Web, worker and beat, on any host, share the database and the secret key; the port may
    be left to its default, and a process may log in as another database user."""
    web = derived(PRODUCTION)
    assert derived("postgres://hearth:hunter2@db.internal/hearth") == web
    assert derived("postgres://worker:other-password@db.internal:5432/hearth") == web
    # Nothing readable: neither the database's address nor anything of the key.
    assert re.fullmatch(r"hearth-[0-9a-f]{12}", web)


@pytest.mark.parametrize(
    ("url", "secret_key"),
    [
        ("postgres://hearth:hunter2@db.internal:5432/hearth_staging", SECRET),
        ("postgres://hearth:hunter2@db.staging.internal:5432/hearth", SECRET),
        ("postgres://hearth:hunter2@db.internal:5433/hearth", SECRET),
        # Two containers each calling their database db/hearth: only their keys differ.
        (PRODUCTION, "another-deployments-secret-key"),
    ],
    ids=["database name", "host", "port", "secret key"],
)
def test_another_deployment_derives_another_namespace(url, secret_key):
    assert derived(url, secret_key) != derived(PRODUCTION)


def test_settings_derive_the_namespace_from_the_database_and_the_key():
    made = settings_for(DATABASE_URL=PRODUCTION, SECRET_KEY=SECRET, REDIS_NAMESPACE=None)
    assert made["REDIS_NAMESPACE"] == derived(PRODUCTION)
    # Without DATABASE_URL, from the embedded server's socket folder, which is each checkout's.
    made = settings_for(DATABASE_URL=None, SECRET_KEY=DEV_SECRET, REDIS_NAMESPACE=None)
    assert made["REDIS_NAMESPACE"] == derived(localdb.database_url(), DEV_SECRET)
    elsewhere = f"postgres://postgres@{quote('/home/other/hearth/var/postgres', safe='')}/hearth"
    assert made["REDIS_NAMESPACE"] != derived(elsewhere, DEV_SECRET)


@pytest.mark.parametrize("kind", ["pubsub", "core"])
def test_every_family_of_redis_names_carries_the_namespace(kind):
    made = settings_for(
        REDIS_URL="redis://127.0.0.1:6379/0",
        REDIS_NAMESPACE="staging",
        CHANNEL_LAYER=kind,
    )
    assert made["CACHES"]["default"]["KEY_PREFIX"] == "staging"
    assert made["CHANNEL_LAYERS"]["default"]["CONFIG"]["prefix"] == "staging."
    # kombu's prefix covers the queues (so the default queue keeps its name), the bindings,
    # the unacked messages and the control and event channels.
    assert made["CELERY_BROKER_TRANSPORT_OPTIONS"] == {"global_keyprefix": "staging:"}


@pytest.mark.parametrize(
    "namespace", ["hearth:staging", "hearth.staging", "x" * 41], ids=["colon", "dot", "too long"]
)
def test_a_namespace_that_could_run_into_another_or_not_fit_is_refused(namespace):
    """Each family adds a colon or a dot after the namespace; a channel name is at most 100
    characters."""
    with pytest.raises(ImproperlyConfigured, match="REDIS_NAMESPACE"):
        settings_for(REDIS_NAMESPACE=namespace)


def test_the_old_cache_only_variable_is_refused_rather_than_ignored():
    with pytest.raises(ImproperlyConfigured, match="CACHE_KEY_PREFIX is now REDIS_NAMESPACE"):
        settings_for(CACHE_KEY_PREFIX="hearth-staging")


# --- In Redis ------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.parametrize("kind", ["pubsub", "core"])
async def test_everything_hearth_puts_in_redis_is_under_its_namespace(kind):
    namespace, client = settings.REDIS_NAMESPACE, redis_client()
    assert client is not None
    client.flushdb()
    watcher = client.pubsub()
    watcher.psubscribe(f"{namespace}:*")  # Celery's control channel, if it is namespaced

    await sync_to_async(cache.set)("probe", 1)
    await sync_to_async(client.set)(redis_key("probe"), 1)  # the ledger's and rate limits' way

    celery = Celery("probe", set_as_current=False)
    celery.config_from_object("django.conf:settings", namespace="CELERY")
    await sync_to_async(celery.send_task)("probe.task")
    await sync_to_async(celery.control.broadcast)("ping", reply=False)
    celery.close()

    configured = settings_for(CHANNEL_LAYER=kind)["CHANNEL_LAYERS"]["default"]
    layer = import_string(configured["BACKEND"])(**configured["CONFIG"])
    channel = await layer.new_channel()
    await layer.group_add("room-1", channel)
    subscribed = client.pubsub_channels(f"{namespace}.*")
    await layer.group_send("room-1", {"type": "room.ping"})
    assert await asyncio.wait_for(layer.receive(channel), timeout=5) == {"type": "room.ping"}
    keys = {key.decode() for key in client.scan_iter()}
    await layer.flush()

    assert {f"{namespace}:1:probe", f"{namespace}:probe", f"{namespace}:celery"} <= keys
    assert [key for key in keys if not key.startswith((f"{namespace}:", f"{namespace}."))] == []
    if kind == "pubsub":
        assert f"{namespace}.__group__room-1".encode() in subscribed
    # The confirmation of the subscription, then the broadcast.
    published = [watcher.get_message(timeout=1) for _ in range(2)]
    assert published[-1] is not None and published[-1]["channel"].endswith(b".celery.pidbox")
    watcher.close()


# --- Two Hearths on one Redis --------------------------------------------------------------------


def other_database(url: str) -> str:
    """The same Redis server, another database number."""
    parts = urlsplit(url)
    number = int(parts.path.strip("/") or 0)
    return parts._replace(path=f"/{(number + 1) % 16}").geturl()


@pytest.fixture
def room(therapist):
    """An open room's session and the login cookies of three of its members (made here, on the
    test's own connection, which the test database's teardown closes)."""
    group = make_group(therapist, title="Evening circle", capacity=10)
    cookies = [session_cookie(make_member(group).user) for _ in range(3)]
    return open_session(group), cookies


@pytest.mark.redis
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize(
    ("layer", "apart"),
    [("pubsub", "same database"), ("pubsub", "database numbers"), ("core", "same database")],
)
async def test_two_deployments_on_one_redis_do_not_hear_each_others_rooms(room, layer, apart):
    """Deployment A runs two servers, B one; all three hold a member in the room of the same
    session id. A message sent through A reaches A's other server and nothing of A's (the
    message, or who joined) reaches B."""
    session, (alice, bob, carol) = room
    tag = uuid.uuid4().hex[:8]
    a = {"REDIS_NAMESPACE": f"a-{tag}", "CHANNEL_LAYER": layer}
    b = {"REDIS_NAMESPACE": f"b-{tag}", "CHANNEL_LAYER": layer}
    if apart == "database numbers":
        b["REDIS_URL"] = other_database(os.environ["REDIS_URL"])

    async with daphne_servers(a, a, b) as (a1, a2, b1):
        on_b = await open_socket(b1, session.pk, carol)
        await drain_until(on_b, "history.end")
        await drain_until(on_b, "presence")  # B's own news of Carol's joining
        sender, on_a = (
            await open_socket(a1, session.pk, alice),
            await open_socket(a2, session.pk, bob),
        )
        for ws in (sender, on_a):
            await drain_until(ws, "history.end")
        await sender.send(
            json.dumps({"type": "message.send", "client_id": str(uuid.uuid4()), "body": "hi"})
        )
        await drain_until(sender, "message.ack")
        heard = await drain_until(on_a, "message", timeout=5)
        assert heard[-1]["body"] == "hi"

        heard_on_b = []
        with pytest.raises(TimeoutError):
            while True:
                heard_on_b.append(json.loads(await asyncio.wait_for(on_b.recv(), timeout=1)))
        assert heard_on_b == []
        for ws in (sender, on_a, on_b):
            await ws.close()
