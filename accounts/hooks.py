"""Extension points for the apps built on accounts.

accounts must not import groups (groups builds on accounts), so groups registers its hooks here
when it starts (see groups.apps), as moderation does with chat.checks.

- What the apps must undo when a person loses a role. These hooks run inside the transaction
  that revoked the role, so what they change commits or rolls back with it, and they record
  their own audit events.
- Where a person lands after logging in (``landing_url``): the first hook with an answer wins,
  else ``LOGIN_REDIRECT_URL``. An explicit, safe ``next`` is honoured before any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from accounts.models import User
    from accounts.roles import Role


class RoleRevokedHook(Protocol):
    def __call__(self, *, actor: User, user: User, roles: frozenset[Role]) -> object: ...


_ROLE_REVOKED_HOOKS: list[RoleRevokedHook] = []


def register_role_revoked_hook(hook: RoleRevokedHook) -> None:
    if hook not in _ROLE_REVOKED_HOOKS:
        _ROLE_REVOKED_HOOKS.append(hook)


def run_role_revoked_hooks(*, actor: User, user: User, roles: frozenset[Role]) -> None:
    """Tell every registered hook that ``user`` just lost ``roles``.

    Call inside the transaction that revoked them, with ``user``'s roles already updated.
    """
    for hook in _ROLE_REVOKED_HOOKS:
        hook(actor=actor, user=user, roles=roles)


class LandingHook(Protocol):
    def __call__(self, *, user: User) -> str | None: ...


_LANDING_HOOKS: list[LandingHook] = []


def register_landing_hook(hook: LandingHook) -> None:
    if hook not in _LANDING_HOOKS:
        _LANDING_HOOKS.append(hook)


def landing_url(*, user: User) -> str | None:
    """The page ``user`` should land on after logging in, or None for the default."""
    for hook in _LANDING_HOOKS:
        url = hook(user=user)
        if url:
            return url
    return None
