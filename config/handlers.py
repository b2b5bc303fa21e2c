"""Django's ASGI handler, with the page's whole middleware chain and view in one thread hop.

Under ASGI Django builds the middleware chain for async use. Hearth's views are synchronous and
so is most of its middleware (its own reads the database: the login policy, login activity),
so a request went event loop → thread (the sync middleware) → event loop (Django's async
innermost handler) → thread (the view): three hand-overs between the loop and a thread where
one does. This handler builds the chain exactly as Django does under WSGI, synchronous from the
first middleware to the view, and runs it with one ``sync_to_async`` call, in the request's own
thread (``ThreadSensitiveContext``, which Django's handler opens per request). Everything else
(reading the body, the request signals, streaming the response) is Django's own code.

Measured with ``bench/asgi_hops.py``: see docs/performance.md, "One thread hop per request".
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    """An ASGI handler whose middleware chain and view run in one synchronous call."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)
