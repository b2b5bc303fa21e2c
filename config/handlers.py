"""Django's ASGI handler: the page's whole middleware chain and view in one thread hop, on a
thread kept from an earlier request.

Under ASGI Django builds the middleware chain for async use. Hearth's views are synchronous and
so is most of its middleware (its own reads the database: the login policy, login activity),
so a request went event loop → thread (the sync middleware) → event loop (Django's async
innermost handler) → thread (the view): three hand-overs between the loop and a thread where
one does. This handler builds the chain exactly as Django does under WSGI, synchronous from the
first middleware to the view, and runs it with one ``sync_to_async`` call, in the request's own
thread (``ThreadSensitiveContext``, which Django's handler opens per request). Everything else
(reading the body, the request signals, streaming the response) is Django's own code.

Measured with ``bench/asgi_hops.py``: see docs/performance.md, "One thread hop per request".

Django's handler also opens a ``ThreadSensitiveContext`` per request, which makes a new
single-thread executor, so every request started a thread for its synchronous work and a
second one to join the first when it ended (asgiref 3.13). This handler lends each request an
executor kept from an earlier one instead: the same one-call-at-a-time thread Django wants,
without the two thread starts, and its database wrapper is still there. Nothing of a request
stays on the thread that another could see: Django's per-request state (the active language
and time zone, the URL prefix) lives in context variables, which ``sync_to_async`` copies in
for each call, and the database connection went back to the pool at the end of the request.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler

# Idle executors (each with its thread) kept for the next requests: as many as requests were
# served at once, up to this many; beyond it a finished request's executor is shut down.
KEEP_IDLE_THREADS = 32


class _Executors:
    """Single-thread executors lent one per request, last returned first lent.

    Used from the event loop's thread only (``borrow`` and ``give_back`` never block)."""

    def __init__(self, keep: int) -> None:
        self._idle: list[ThreadPoolExecutor] = []
        self._keep = keep

    def borrow(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle) < self._keep:
            self._idle.append(executor)
        else:
            executor.shutdown(wait=False)

    def discard(self, executor: ThreadPoolExecutor) -> None:
        """For a request that ended by an error or a cancellation, whose synchronous work
        may still be running: its thread finishes that work, then ends."""
        executor.shutdown(wait=False)


class OneHopASGIHandler(ASGIHandler):
    """An ASGI handler whose middleware chain and view run in one synchronous call."""

    executors = _Executors(KEEP_IDLE_THREADS)

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # as Django's own __call__
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.executors.borrow()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        except BaseException:
            self.executors.discard(executor)
            raise
        self.executors.give_back(executor)
