"""The page's CSRF token, masked with one call for randomness instead of thirty-two.

Every logged-in page prints a CSRF token (the header's logout form), and Django masks the
secret afresh for each page (against BREACH) with a mask of 32 characters drawn one by one
through ``random.SystemRandom().choice``: 32 calls into the kernel for randomness and a few
hundred Python calls, about 33 µs and a sixteenth of a small logged-in page's work. This
module draws the mask from one ``secrets.token_bytes`` call instead; everything else is
Django's: the same secret, the same masking (a mask of allowed characters, then the secret
shifted by it), checked by Django's ``CsrfViewMiddleware`` as before.

``csrf`` replaces Django's built-in context processor of the same name (it is listed after
it in ``TEMPLATES``, so its ``csrf_token`` is the one templates see, and Django's lazy value
is never computed).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.utils.functional import SimpleLazyObject

_CHARS = CSRF_ALLOWED_CHARS
_COUNT = len(_CHARS)
_INDEX = {char: i for i, char in enumerate(_CHARS)}
# Random bytes below this bound, taken modulo the number of characters, are uniform over them
# (248 is 4 times 62); the few above it are dropped rather than skewing the first characters.
_UNBIASED_BELOW = 256 - 256 % _COUNT


def _random_indexes(count: int) -> list[int]:
    """``count`` positions in the allowed characters, uniformly and independently random."""
    picked: list[int] = []
    while len(picked) < count:
        picked += [
            byte % _COUNT for byte in secrets.token_bytes(count + 8) if byte < _UNBIASED_BELOW
        ]
    return picked[:count]


def mask_secret(secret: str) -> str:
    """What Django's ``_mask_cipher_secret`` makes of ``secret``: a random mask, then each
    character of the secret moved on by the mask's character at the same place."""
    mask = _random_indexes(CSRF_SECRET_LENGTH)
    masked = (
        _CHARS[(_INDEX[char] + shift) % _COUNT] for char, shift in zip(secret, mask, strict=True)
    )
    return "".join(_CHARS[shift] for shift in mask) + "".join(masked)


def page_token(request: HttpRequest) -> str:
    """Django's ``get_token``: the secret from the request's CSRF cookie (which the response
    then sends again, renewing its expiry), masked; with no cookie yet, Django's own."""
    secret = request.META.get("CSRF_COOKIE")
    if secret is None or len(secret) != CSRF_SECRET_LENGTH:
        return get_token(request)
    request.META["CSRF_COOKIE_NEEDS_UPDATE"] = True
    return mask_secret(secret)


def csrf(request: HttpRequest) -> dict[str, Any]:
    """``csrf_token`` for templates, computed only if a template prints it (as Django's)."""
    return {"csrf_token": SimpleLazyObject(lambda: page_token(request))}
