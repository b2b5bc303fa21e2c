"""Periodic jobs record their last success, so /health/ can say when each last ran."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.utils import timezone

from accounts.models import JobRun


def periodic(name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Wrap a periodic job's body: on success, record when and what it counted."""

    def decorate(body: Callable[..., int]) -> Callable[..., int]:
        @wraps(body)
        def run(*args: Any, **kwargs: Any) -> int:
            result = body(*args, **kwargs)
            JobRun.objects.update_or_create(
                name=name,
                defaults={"last_success_at": timezone.now(), "last_result": int(result or 0)},
            )
            return result

        return run

    return decorate
