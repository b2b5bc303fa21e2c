from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.roles import Role
from accounts.selectors import guidelines_standing

LEADING_ROLES = frozenset({Role.THERAPIST, Role.PEER_SUPERVISOR})


def hearth(request: HttpRequest) -> dict[str, Any]:
    """Site name, and whether the viewer still has to accept the current guidelines: for the
    first time (a welcome) or again (an update)."""
    user = getattr(request, "user", None)

    def pending() -> str:
        if not (user and user.is_authenticated):
            return ""
        standing = guidelines_standing(user=user)
        return "" if standing == "accepted" else standing

    def can_lead() -> bool:
        return bool(user and user.is_authenticated and user.roles & LEADING_ROLES)

    return {
        "site_name": settings.SITE_NAME,
        "guidelines_pending": SimpleLazyObject(pending),
        "can_lead_groups": SimpleLazyObject(can_lead),
    }
