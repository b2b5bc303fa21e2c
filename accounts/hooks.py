"""An extension point: what the apps built on accounts must undo when a person loses a role.

accounts must not import groups (groups builds on accounts), so groups registers its hook here
when it starts (see groups.apps), as moderation does with chat.checks. Hooks run inside the
transaction that revoked the role, so what they change commits or rolls back with it, and they
record their own audit events.
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
