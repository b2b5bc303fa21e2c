"""The audit recorder: the one module every app may call.

It depends on nothing of ours but its own model, so ``accounts``, ``groups`` and ``chat`` can
record events without importing the rest of moderation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.db import models

from moderation.models import AuditAction, AuditEvent

if TYPE_CHECKING:  # a type only: the audit leaf imports no other app at run time
    from accounts.models import User

__all__ = ["AuditAction", "audit_context", "audit_record"]

_request_ip: ContextVar[str | None] = ContextVar("hearth_audit_ip", default=None)

# Codes, enum names and ids: short, and with no room for sentences.
_SAFE_STRING = re.compile(r"^[A-Za-z0-9_.:/@+-]{0,64}$")


@contextmanager
def audit_context(*, ip_address: str | None) -> Iterator[None]:
    """Attribute the events recorded inside the block to a client address."""
    token = _request_ip.set(ip_address)
    try:
        yield
    finally:
        _request_ip.reset(token)


def _check_detail_value(key: str, value: Any) -> None:
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str) and _SAFE_STRING.match(value):
        return
    if isinstance(value, list | tuple):
        for item in value:
            _check_detail_value(key, item)
        return
    raise ValueError(
        f"Audit detail {key!r} must be an id, a number, a flag or a short code; "
        "free text (which may hold health information) is never stored in the audit log."
    )


def audit_record(
    *,
    actor: User | None,
    action: AuditAction,
    target: models.Model | None = None,
    group_id: int | None = None,
    session_id: int | None = None,
    details: dict[str, Any] | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Record that ``actor`` did ``action`` to ``target``.

    Call it inside the transaction that makes the change, so that the change and its record
    commit or roll back together. ``details`` holds ids and short codes only.
    """
    details = dict(details or {})
    for key, value in details.items():
        if not _SAFE_STRING.match(key):
            raise ValueError(f"Audit detail key {key!r} is not a short code.")
        _check_detail_value(key, value)
    target_type = target_id = ""
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk is not None else None,
        action=AuditAction(action),
        target_type=target_type,
        target_id=target_id,
        group_id=group_id,
        session_id=session_id,
        details=details,
        ip_address=ip_address if ip_address is not None else _request_ip.get(),
    )
