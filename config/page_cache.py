"""A shared cache of the public pages as an anonymous visitor sees them.

Only pages a view marks with :func:`anonymous_cacheable` (home, how it works, the directory, a
group's page) are kept, and only when nothing in them can belong to a person:

- served from the cache only to a request that carries no login (no session cookie, no
  pending messages cookie) and no cookie other than those in ``PAGE_CACHE_VARY_COOKIES``,
  whose values are part of the key along with the host, the path and the query string;
- stored only when the page was rendered for an anonymous visitor, answered 200, set no
  cookie and did not use the CSRF token (a page with a form that posts is never shared).

A logged-in person always sends a session cookie, so their pages never come from here or go
in here. What is stored is invalidated, across every process, when a group, session or
enrollment changes (:func:`pages_changed`, after the change commits); anything else a page
shows (a facilitator's name, "starts in 5 minutes") is at most ``PAGE_CACHE_SECONDS`` old.

Logged-in pages are never stored whole, but a part of one that is the same for everyone in
some audience (the directory's list for people who see the same groups, a group's
description and sessions) may be, through :func:`shared_part`: the view names everything
the part depends on, and the part is forgotten with the anonymous pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.utils.safestring import SafeString, mark_safe

_GENERATION_KEY = "pages:generation"
_MARK = "anonymous_cacheable"

View = Callable[..., HttpResponse]


def anonymous_cacheable(view: View) -> View:
    """Mark a view's pages as the same for every anonymous visitor (see the module)."""
    setattr(view, _MARK, True)
    return view


def pages_changed() -> None:
    """Forget every stored page, now and again once the current transaction commits.

    The bump after commit is the one that counts: a page rendered by another request while
    the change was not yet committed may have been stored under the first bump. The first
    one lets the transaction that made the change (a test, a service that renders after
    writing) see it at once; if the change rolls back, pages are only rendered again.
    """
    _generation_bump()
    connection = transaction.get_connection()
    if not any(entry[1] is _generation_bump for entry in connection.run_on_commit):
        transaction.on_commit(_generation_bump)  # once per transaction is enough


def pages_changed_receiver(**kwargs: Any) -> None:
    """``post_save``/``post_delete`` receiver for the models the public pages show."""
    pages_changed()


def _generation_bump() -> None:
    try:
        cache.incr(_GENERATION_KEY)
    except ValueError:  # not stored yet (or evicted): any new value makes old pages stale
        cache.set(_GENERATION_KEY, 1, timeout=None)


def shared_part(*, name: str, vary: tuple[object, ...], render: Callable[[], str]) -> SafeString:
    """The HTML ``render()`` makes, kept for everyone for whom ``name`` and ``vary`` are equal.

    ``vary`` must hold everything the part depends on apart from the groups, sessions and
    enrollments (whose changes forget it, as they forget the anonymous pages): the address
    and its query, the viewer's time zone, which groups this viewer may see. What ``render``
    makes must hold nothing of one person's (no CSRF token, no name, no "you"). One cache
    round trip when the part is kept; the generation is read before ``render`` reads the
    database, so a part rendered while a change commits is stored under the old generation
    and never served after it.
    """
    if not settings.PAGE_CACHE_SECONDS:
        return mark_safe(render())
    key = "parts:" + hashlib.sha256(repr((name, vary)).encode()).hexdigest()
    found = cache.get_many([_GENERATION_KEY, key])
    generation = found.get(_GENERATION_KEY, 0)
    stored = found.get(key)
    if stored is not None and stored[0] == generation:
        return mark_safe(stored[1])
    html = render()
    cache.set(key, (generation, str(html)), timeout=settings.PAGE_CACHE_SECONDS)
    return mark_safe(html)


def _marked(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, _MARK, False)


def _key(request: HttpRequest) -> str | None:
    """The page's key, or None when this request may not be answered from the cache."""
    if request.method != "GET" or not settings.PAGE_CACHE_SECONDS:
        return None
    cookies = request.COOKIES
    vary = settings.PAGE_CACHE_VARY_COOKIES
    if any(name not in vary and name != settings.CSRF_COOKIE_NAME for name in cookies):
        return None
    if "HTTP_AUTHORIZATION" in request.META or not _marked(request.path_info):
        return None
    parts = [request.get_host(), request.get_full_path()]
    parts += [f"{name}={cookies.get(name, '')}" for name in vary]
    return "pages:" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _storable(request: HttpRequest, response: HttpResponse) -> bool:
    user = getattr(request, "user", None)
    return (
        response.status_code == 200
        and not response.streaming
        and not response.cookies
        and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE")
        and user is not None
        and not user.is_authenticated
    )


class AnonymousPageCacheMiddleware:
    """Answer an anonymous visitor's public page from the cache, or keep it there."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = _key(request)
        if key is None:
            return self.get_response(request)
        found = cache.get_many([_GENERATION_KEY, key])
        generation = found.get(_GENERATION_KEY, 0)
        stored = found.get(key)
        if stored is not None and stored[0] == generation:
            _, status, headers, content = stored
            response = HttpResponse(content, status=status)
            for name, value in headers:
                response.headers[name] = value
            response.headers["X-Cache"] = "hit"
            return response
        response = self.get_response(request)
        if _storable(request, response):
            headers = list(response.headers.items())
            cache.set(
                key,
                (generation, response.status_code, headers, response.content),
                timeout=settings.PAGE_CACHE_SECONDS,
            )
        return response
