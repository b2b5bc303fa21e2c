"""A page's middleware and view run in one hand-over from the event loop to a thread, on a
thread kept from an earlier request."""

from __future__ import annotations

import json
import threading

import asgiref.sync
import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler

from config.asgi import django_asgi_app
from config.handlers import KEEP_IDLE_THREADS, OneHopASGIHandler, _Executors


def scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def get(app, path: str) -> tuple[int, bytes]:
    communicator = ApplicationCommunicator(app, scope(path))
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    await communicator.wait(5)
    return start["status"], body["body"]


@pytest.fixture
def hand_overs(monkeypatch) -> list[str]:
    """Every hand-over between the event loop and a thread, in order."""
    seen: list[str] = []
    for name in ("SyncToAsync", "AsyncToSync"):
        adapter = getattr(asgiref.sync, name)
        original = adapter.__call__

        def counting(self, *args, __original=original, __name=name, **kwargs):
            target = self.func if __name == "SyncToAsync" else self.awaitable
            seen.append(f"{__name}:{getattr(target, '__qualname__', '?')}")
            return __original(self, *args, **kwargs)

        monkeypatch.setattr(adapter, "__call__", counting)
    return seen


async def test_the_served_application_is_the_one_hop_handler():
    assert isinstance(django_asgi_app, OneHopASGIHandler)


async def test_a_request_goes_from_the_loop_to_a_thread_once_for_middleware_and_view(hand_overs):
    status, body = await get(OneHopASGIHandler(), "/ping/")
    assert (status, body) == (200, b"ok")
    assert not [hop for hop in hand_overs if hop.startswith("AsyncToSync")]
    # Besides Django's own (the request_started signal, closing the response): one.
    around = ("SyncToAsync:Signal.asend.<locals>.sync_send", "SyncToAsync:HttpResponseBase.close")
    assert [hop for hop in hand_overs if hop not in around] == [
        "SyncToAsync:convert_exception_to_response.<locals>.inner"
    ]


async def test_djangos_own_asgi_handler_goes_back_and_forth(hand_overs):
    """What the handler saves: under Django's, the sync middleware calls back into the loop."""
    status, _ = await get(ASGIHandler(), "/ping/")
    assert status == 200
    assert [hop for hop in hand_overs if hop.startswith("AsyncToSync")], hand_overs
    assert len(hand_overs) >= 5, hand_overs


@pytest.fixture
def thread_starts(monkeypatch) -> list[str]:
    """The name of every thread started."""
    started: list[str] = []
    original = threading.Thread.start

    def start(self):
        started.append(self.name)
        return original(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


async def test_requests_one_after_another_start_no_thread(thread_starts):
    """Django's handler started two threads per request (asgiref 3.13): one for the request's
    synchronous work and one to join it. This one lends each request a kept thread."""
    handler = OneHopASGIHandler()
    assert await get(handler, "/ping/") == (200, b"ok")  # may start the first thread
    thread_starts.clear()
    for _ in range(5):
        assert await get(handler, "/ping/") == (200, b"ok")
    assert thread_starts == []


async def test_djangos_handler_starts_threads_per_request(thread_starts):
    """The cost the kept threads save, shown on Django's own handler."""
    await get(ASGIHandler(), "/ping/")
    thread_starts.clear()
    await get(ASGIHandler(), "/ping/")
    assert len(thread_starts) >= 1


@pytest.mark.urls("tests.config.thread_urls")
async def test_nothing_a_request_set_reaches_the_next_one_on_the_same_thread():
    handler = OneHopASGIHandler()
    status, first = await get(handler, "/report/")
    assert status == 200
    assert await get(handler, "/set/") == (200, b"set")
    status, second = await get(handler, "/report/")
    before, after = json.loads(first), json.loads(second)
    assert after["thread"] == before["thread"]  # the same kept thread served all three
    assert (after["zone"], after["language"]) == (before["zone"], before["language"])
    assert after["zone"] != "Asia/Tokyo" and after["language"] != "fr"


async def test_requests_at_the_same_time_each_get_their_own_thread():
    executors = _Executors(keep=2)
    first, second = executors.borrow(), executors.borrow()
    assert first is not second
    executors.give_back(first)
    executors.give_back(second)
    assert executors.borrow() is second  # the last returned, whose thread is warmest
    assert executors.borrow() is first


def test_no_more_idle_threads_are_kept_than_the_limit():
    executors = _Executors(keep=1)
    kept, extra = executors.borrow(), executors.borrow()
    executors.give_back(kept)
    executors.give_back(extra)
    assert extra._shutdown  # its thread ends
    assert executors.borrow() is kept
    assert KEEP_IDLE_THREADS >= 1


async def test_a_request_that_fails_does_not_lend_its_thread_again():
    """A cancelled or failed request's synchronous work may still be running on its thread:
    that executor is shut down (the thread ends when the work does) rather than lent."""
    handler = OneHopASGIHandler()
    before = list(handler.executors._idle)

    async def broken_receive():
        raise RuntimeError("the connection broke")

    async def send(message):
        pass

    with pytest.raises(RuntimeError):
        await handler(scope("/ping/"), broken_receive, send)
    assert handler.executors._idle == before[:-1]  # the one it borrowed did not come back
