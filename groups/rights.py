"""Per-object rights on a group (django-guardian), read and written in one place.

Guardian's ``has_perm`` and ``ObjectPermissionChecker`` answer True for any superuser. Here
a right exists only when it was granted to that person for that group, so nobody's rights are
silently widened; the queries go straight to the direct foreign-key permission table.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import QuerySet

from accounts.models import User
from config.baked import Baked, Read, rows_of
from groups.models import TherapyGroup, TherapyGroupUserObjectPermission

FACILITATE = "facilitate_group"
VIEW_ROSTER = "view_roster"
MANAGE_SESSIONS = "manage_sessions"
FACILITATOR_RIGHTS = (FACILITATE, VIEW_ROSTER, MANAGE_SESSIONS)


def _rights_held(user_id: int, group_id: int) -> QuerySet[Any, Any]:
    return TherapyGroupUserObjectPermission.objects.filter(
        user_id=user_id, content_object_id=group_id
    ).values_list("permission__codename")


def _rights_held_by_slug(user_id: int, slug: str) -> QuerySet[Any, Any]:
    return TherapyGroupUserObjectPermission.objects.filter(
        user_id=user_id, content_object__slug=slug
    ).values_list("permission__codename")


# Asked on every page about a group the viewer may act on: built once (config.baked).
_RIGHTS_HELD = Baked(_rights_held, user_id=int, group_id=int)
_RIGHTS_HELD_BY_SLUG = Baked(_rights_held_by_slug, user_id=int, slug=str)


def rights_read(*, user: User, slug: str) -> Read | None:
    """``rights_of`` the group ``slug`` as a read to send with others (``config.baked.together``),
    answered by ``rights_from``; None for someone who holds none (anonymous or inactive)."""
    if not user.is_authenticated or not user.is_active:
        return None
    return rows_of(_RIGHTS_HELD_BY_SLUG, user_id=user.pk, slug=slug)


def rights_from(rows: list[tuple[str]] | None) -> frozenset[str]:
    return frozenset(name for (name,) in rows or ())


def rights_of(*, user: User, group: TherapyGroup) -> frozenset[str]:
    """The rights ``user`` holds on ``group`` (one query; none for the anonymous)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    return rights_from(_RIGHTS_HELD.rows(user_id=user.pk, group_id=group.pk))


def has_right(*, user: User, group: TherapyGroup, right: str) -> bool:
    return right in rights_of(user=user, group=group)


def holders(*, group: TherapyGroup, right: str, users: list[User]) -> set[int]:
    """The ids of those among ``users`` who hold ``right`` on ``group`` (one query).

    The same answer as ``has_right`` for each of them, for several people at once.
    """
    active = [user.pk for user in users if user.is_authenticated and user.is_active]
    if not active:
        return set()
    return set(
        TherapyGroupUserObjectPermission.objects.filter(
            content_object=group, user_id__in=active, permission__codename=right
        ).values_list("user_id", flat=True)
    )


def groups_with_right(*, user: User, right: str) -> QuerySet[Any, Any]:
    """Ids of the groups on which ``user`` holds ``right``, as a subquery.

    Use it as ``filter(pk__in=...)``: the database starts from this person's few rights rows
    (an index lookup) instead of testing every group.
    """
    return TherapyGroupUserObjectPermission.objects.filter(
        user=user, permission__codename=right
    ).values("content_object_id")


def groups_with_any_right(*, user: User) -> QuerySet[Any, Any]:
    """Ids of the groups on which ``user`` holds any right, as a subquery (see above)."""
    return TherapyGroupUserObjectPermission.objects.filter(user=user).values("content_object_id")


def _permissions(codenames: tuple[str, ...]) -> list[Permission]:
    return list(
        Permission.objects.filter(
            content_type__app_label="groups",
            content_type__model="therapygroup",
            codename__in=codenames,
        )
    )


def grant(*, user: User, group: TherapyGroup, rights: tuple[str, ...] = FACILITATOR_RIGHTS) -> None:
    """Give ``user`` the rights on ``group`` (granting twice changes nothing)."""
    for permission in _permissions(rights):
        TherapyGroupUserObjectPermission.objects.get_or_create(
            user=user, content_object=group, permission=permission
        )


def revoke(*, user: User, group: TherapyGroup, rights: tuple[str, ...] = FACILITATOR_RIGHTS) -> int:
    """Take the rights on ``group`` away from ``user``; return how many rows went."""
    deleted, _ = TherapyGroupUserObjectPermission.objects.filter(
        user=user, content_object=group, permission__codename__in=rights
    ).delete()
    return deleted
