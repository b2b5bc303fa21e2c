"""Rendering a repeated piece of a page (a row of a list) once per distinct content.

The schedule and the facilitator's dashboard print forty-odd rows, and Django's template
engine spent most of those pages' time on them (about 0.3 ms a row on the bench machine).
A row here is a frozen dataclass of plain values (:class:`Row`), the exact inputs of its
template: the same values, in the same time zone and language, always render the same
HTML, so this process remembers the HTML by those values. Nothing can go stale, since a
changed value is a new key; and nothing passes from one person to another that was not in
the values themselves (build rows only from what everyone who sees the row may see).

A model instance must never be a value: it compares and hashes by primary key only, so an
edited row would find the old HTML. A row's values are checked when its HTML is first made,
not each time a row is built (forty-odd a page): a row that holds anything else fails then,
and so can never have been remembered for a later, equal row to find.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from enum import Enum
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

_PLAIN = (str, int, float, bool, datetime, date, Enum, type(None))


@dataclass(frozen=True)
class Row:
    """Base for the plain, hashable values one row's template prints."""

    def check_plain(self) -> None:
        """Raise TypeError unless every value is plain (or a plain row)."""
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if not isinstance(value, _ALLOWED):
                raise TypeError(f"{type(self).__name__}.{name} is not a plain value")
            if isinstance(value, Row):
                value.check_plain()


_ALLOWED = (*_PLAIN, Row)


_FIELD_NAMES: dict[type[Row], tuple[str, ...]] = {}


def _field_names(row_type: type[Row]) -> tuple[str, ...]:
    # ``fields()`` builds its answer anew on every call, and a page checks forty-odd rows.
    names = _FIELD_NAMES.get(row_type)
    if names is None:
        names = _FIELD_NAMES[row_type] = tuple(field.name for field in fields(row_type))
    return names


# The HTML of each row made, by its template, zone, language, type and values. A dict (cleared
# when full) rather than ``lru_cache`` keyed by the row itself: hashing and comparing a frozen
# dataclass runs its generated Python ``__hash__`` and ``__eq__`` for every row of every page
# (about 3 % of "Groups I lead"); a tuple of its values is hashed and compared in C.
KEPT_ROWS = 4096
_kept: dict[tuple[Any, ...], SafeString] = {}
_VALUES: dict[type[Row], Callable[[Row], tuple[Any, ...]]] = {}


def _values_getter(row_type: type[Row]) -> Callable[[Row], tuple[Any, ...]]:
    names = _field_names(row_type)
    if len(names) > 1:
        return operator.attrgetter(*names)
    return lambda row: tuple(getattr(row, name) for name in names)


def _rendered(template_name: str, zone: str, language: str | None, row: Row) -> SafeString:
    row_type = type(row)
    values = _VALUES.get(row_type)
    if values is None:
        values = _VALUES[row_type] = _values_getter(row_type)
    key = (template_name, zone, language, row_type, values(row))
    html = _kept.get(key)
    if html is None:
        row.check_plain()
        html = render_to_string(template_name, {"row": row})
        if len(_kept) >= KEPT_ROWS:
            _kept.clear()
        _kept[key] = html
    return html


def render_row(template_name: str, row: Row) -> SafeString:
    """``template_name`` rendered with ``{"row": row}``, in the active zone and language."""
    return _rendered(template_name, timezone.get_current_timezone_name(), get_language(), row)


def render_rows(template_name: str, rows: Iterable[Row], csrf: str = "") -> SafeString:
    """``render_row`` for each of ``rows``, joined; the zone and language are looked up once
    (each costs a few microseconds, through the request's context-local state). ``csrf``
    (``csrf_field``) goes into the rows' CSRF slots, if they have any."""
    zone, language = timezone.get_current_timezone_name(), get_language()
    html = "".join([_rendered(template_name, zone, language, row) for row in rows])
    return with_csrf(html, csrf) if csrf else SafeString(html)


# Where a kept row's form has its CSRF field: the HTML kept is the same for everyone with the
# same values, and each page puts its own field in (``with_csrf``). No value a row prints can
# make this: what a row prints is escaped, "<" included.
CSRF_SLOT = "<!--csrf-->"


def csrf_field(token: str) -> SafeString:
    """The hidden CSRF input for ``token`` (``get_token(request)``, once a page), as
    ``{% csrf_token %}`` prints it."""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)


def with_csrf(html: str, field: str) -> SafeString:
    """Kept HTML with ``field`` (from ``csrf_field``) in its CSRF slots."""
    return mark_safe(html.replace(CSRF_SLOT, field))


@receiver(setting_changed)
def _forget_rows(*, setting: str, **kwargs: Any) -> None:
    if setting in ("TEMPLATES", "ROOT_URLCONF", "USE_TZ", "TIME_ZONE"):
        _kept.clear()
