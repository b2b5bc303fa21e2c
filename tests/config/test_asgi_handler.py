"""A page's middleware and view run in one hand-over from the event loop to a thread."""

from __future__ import annotations

import asgiref.sync
import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.handlers.asgi import ASGIHandler

from config.asgi import django_asgi_app
from config.handlers import OneHopASGIHandler


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
