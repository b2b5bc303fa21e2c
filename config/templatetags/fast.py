"""Faster drop-ins for the template builtins the hot pages call most: ``url``, ``date``,
``static`` (in a template that does not ``{% load static %}``, which would bring Django's) and
``extends``.

Loaded as a template builtin after Django's own (``TEMPLATES[...]["OPTIONS"]["builtins"]``), so
every template gets them with no change. The profile of the schedule, dashboard and group
pages showed these two at about a third of the Python time: a ``reverse()`` costs about 100 µs
and Django's ``date`` about 45 µs (each looks up the active language, the format and the month
and day names through the translation machinery), and a page of forty sessions calls them a
few hundred times. Both give exactly what Django's give (``tests/config/test_fast_builtins.py``
compares them over many values), and hand anything they do not cover to Django's own.
``extends`` finds the blocks of the template at the root once per compiled template, where
Django walks that whole template for them on every render (``tests/config/test_fast_builtins``
renders pages with both and compares).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from datetime import date as date_type
from datetime import datetime
from typing import Any

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.template import defaultfilters
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.template.loader_tags import BLOCK_CONTEXT_KEY, BlockContext, BlockNode, ExtendsNode
from django.template.loader_tags import do_extends as django_extends
from django.templatetags.static import StaticNode
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = template.Library()


# --- url -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _reversed(urlconf: str, prefix: str, view_name: str, args: tuple[Any, ...], app: Any) -> str:
    return reverse(view_name, args=args, current_app=app, urlconf=urlconf)


@receiver(setting_changed)
def _forget_urls(*, setting: str, **kwargs: Any) -> None:
    if setting == "ROOT_URLCONF":
        _reversed.cache_clear()


class MemoURLNode(URLNode):
    """Django's ``{% url %}``, remembering each address it built.

    An address depends only on the URLconf, the script prefix, the view name, its arguments
    and the application namespace, all of which are the key; ``kwargs`` and arguments that
    are not strings or integers go to ``reverse()`` as before.
    """

    def render(self, context: template.Context) -> str:
        args = tuple(arg.resolve(context) for arg in self.args)
        if self.kwargs or not all(type(arg) in (str, int) for arg in args):
            return super().render(context)
        view_name = self.view_name.resolve(context)
        request = getattr(context, "request", None)
        app = getattr(request, "current_app", None)
        if app is None:
            app = getattr(getattr(request, "resolver_match", None), "namespace", None)
        urlconf = get_urlconf() or settings.ROOT_URLCONF
        url = ""
        try:
            url = _reversed(urlconf, get_script_prefix(), view_name, args, app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        return conditional_escape(url) if context.autoescape else url


@register.tag
def url(parser: template.base.Parser, token: template.base.Token) -> URLNode:
    node = django_url(parser, token)
    return MemoURLNode(node.view_name, node.args, node.kwargs, node.asvar)


# --- static --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _static(path: str) -> str:
    return StaticNode.handle_simple(path)


@receiver(setting_changed)
def _forget_static(*, setting: str, **kwargs: Any) -> None:
    if setting in ("STATIC_URL", "STATIC_ROOT", "STORAGES", "INSTALLED_APPS"):
        _static.cache_clear()


class MemoStaticNode(StaticNode):
    """Django's ``{% static %}``, remembering each address it built (the storage's answer for
    a path does not change while a process runs: the manifest is read once). With the
    manifest storage each address cost about 30 µs, and base.html asks for three."""

    @classmethod
    def handle_simple(cls, path: str) -> str:
        return _static(path)


@register.tag
def static(parser: template.base.Parser, token: template.base.Token) -> StaticNode:
    return MemoStaticNode.handle_token(parser, token)


# --- extends -------------------------------------------------------------------------------------

# The block nodes of each compiled root template (one that extends nothing), by name.
_root_blocks: weakref.WeakKeyDictionary[template.Template, dict[str, BlockNode]] = (
    weakref.WeakKeyDictionary()
)


def _blocks_if_root(compiled: template.Template) -> dict[str, BlockNode] | None:
    """The blocks of ``compiled`` if it is a root template (what Django's ``ExtendsNode``
    works out on every render), or None if it extends another."""
    try:
        return _root_blocks[compiled]
    except KeyError:
        pass
    blocks: dict[str, BlockNode] | None = None
    for node in compiled.nodelist:
        if not isinstance(node, template.base.TextNode):  # the first node that is not text
            if not isinstance(node, ExtendsNode):
                blocks = {n.name: n for n in compiled.nodelist.get_nodes_by_type(BlockNode)}
            break
    if blocks is not None:
        _root_blocks[compiled] = blocks
    return blocks


class KeptBlocksExtendsNode(ExtendsNode):
    """Django's ``{% extends %}`` (``ExtendsNode.render``), with the root template's blocks
    found once per compiled template: base.html's walk was about 2 % of a page. A template
    object is compiled once per process with the cached loader (DEBUG off); otherwise each
    render compiles a new one, found afresh."""

    def render(self, context: template.Context) -> str:
        compiled_parent = self.get_parent(context)
        if BLOCK_CONTEXT_KEY not in context.render_context:
            context.render_context[BLOCK_CONTEXT_KEY] = BlockContext()
        block_context = context.render_context[BLOCK_CONTEXT_KEY]
        block_context.add_blocks(self.blocks)
        blocks = _blocks_if_root(compiled_parent)
        if blocks is not None:
            block_context.add_blocks(blocks)
        with context.render_context.push_state(compiled_parent, isolated_context=False):
            return compiled_parent._render(context)


@register.tag
def extends(parser: template.base.Parser, token: template.base.Token) -> ExtendsNode:
    node = django_extends(parser, token)
    return KeptBlocksExtendsNode(node.nodelist, node.parent_name, node.template_dirs)


# --- date ----------------------------------------------------------------------------------------

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

# The format characters this covers, as Django's dateformat defines them (English names).
_PARTS: dict[str, Callable[[Any], str]] = {
    "l": lambda d: _DAYS[d.weekday()],
    "D": lambda d: _DAYS[d.weekday()][:3],
    "j": lambda d: str(d.day),
    "d": lambda d: f"{d.day:02d}",
    "F": lambda d: _MONTHS[d.month - 1],
    "M": lambda d: _MONTHS[d.month - 1][:3],
    "n": lambda d: str(d.month),
    "m": lambda d: f"{d.month:02d}",
    "Y": lambda d: f"{d.year:04d}",
    "H": lambda d: f"{d.hour:02d}",
    "G": lambda d: str(d.hour),
    "i": lambda d: f"{d.minute:02d}",
    "s": lambda d: f"{d.second:02d}",
    "c": lambda d: d.isoformat(),
}
_TIME_PARTS = frozenset("HGis")
_LITERALS = frozenset(" ,.:-/()")


@functools.lru_cache(maxsize=256)
def _compiled(fmt: str) -> tuple[tuple[Callable[[Any], str] | str, ...], bool] | None:
    """The format as a list of parts and literal text, and whether it needs a time of day;
    None if it uses anything not covered here (Django's own formats it then)."""
    parts: list[Callable[[Any], str] | str] = []
    for char in fmt:
        if char in _PARTS:
            parts.append(_PARTS[char])
        elif char in _LITERALS:
            parts.append(char)
        else:
            return None
    return tuple(parts), any(char in _TIME_PARTS for char in fmt)


@register.filter(expects_localtime=True, is_safe=False)
def date(value: Any, arg: str | None = None) -> str:
    """Django's ``date`` filter, without the translation look-ups when the language is
    English and the format uses only plain parts."""
    compiled = _compiled(arg) if arg else None
    if (
        compiled is None
        or not isinstance(value, date_type)
        or (compiled[1] and not isinstance(value, datetime))
        or not (get_language() or "en").startswith("en")
    ):
        return defaultfilters.date(value, arg)
    parts, _ = compiled
    return "".join(part if isinstance(part, str) else part(value) for part in parts)
