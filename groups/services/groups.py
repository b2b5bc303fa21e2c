"""Creating, editing and archiving groups, and who facilitates them."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.exceptions import ServiceError
from accounts.models import User
from accounts.roles import Role
from accounts.text import bounded
from groups import rights
from groups.models import (
    AGREEMENT_MAX,
    DESCRIPTION_MAX,
    TITLE_MAX,
    TherapyGroup,
    Topic,
)
from groups.services._common import _lead_refusal, _may_lead, _require_active, _require_right
from groups.services.enrollment import _active_count, _fill_free_places
from groups.services.listing import store_next_session, store_seats_taken
from groups.services.sessions import _cancel_one
from moderation.audit import AuditAction, audit_record

# --- Groups ---------------------------------------------------------------------------------------


# What people write about a group: (limit, noun for the note, keeps its lines).
_TEXTS = {
    "title": (TITLE_MAX, "Titles", False),
    "description": (DESCRIPTION_MAX, "Descriptions", True),
    "agreement": (AGREEMENT_MAX, "Group agreements", True),
}


def _cleaned_texts(values: dict[str, object]) -> dict[str, str]:
    """Those of ``values`` that are a group's texts, cleaned; too long is refused, never cut."""
    return {
        name: bounded(values[name], limit=limit, noun=noun, multiline=multiline)
        for name, (limit, noun, multiline) in _TEXTS.items()
        if name in values
    }


def _unique_slug(title: str) -> str:
    base = slugify(title)[:120] or "group"
    slug, n = base, 2
    while TherapyGroup.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def group_create(
    *,
    actor: User,
    title: str,
    topic: Topic,
    kind: str,
    description: str,
    agreement: str = "",
    capacity: int = 10,
    language: str = "en",
    is_listed: bool = True,
    is_closed: bool = False,
    time_zone: str = "Europe/London",
    transcript_retention_days: int = 30,
) -> TherapyGroup:
    """Create a group led by ``actor``, who gets the facilitator rights on it."""
    _require_active(actor)
    texts = _cleaned_texts({"title": title, "description": description, "agreement": agreement})
    if not _may_lead(actor, kind):
        raise _lead_refusal(kind)
    if kind == TherapyGroup.Kind.PEER_SUPERVISION:
        is_closed = True
    with transaction.atomic():
        group = TherapyGroup(
            title=texts["title"],
            slug=_unique_slug(texts["title"]),
            topic=topic,
            kind=kind,
            description=texts["description"],
            agreement=texts["agreement"],
            facilitator=actor,
            capacity=capacity,
            language=language,
            is_listed=is_listed,
            is_closed=is_closed,
            time_zone=time_zone,
            transcript_retention_days=transcript_retention_days,
        )
        group.full_clean()
        group.save()
        audit_record(actor=actor, action=AuditAction.GROUP_CREATED, target=group, group_id=group.pk)
        _grant_facilitator(actor=actor, group=group, user=actor)
    return group


def _grant_facilitator(*, actor: User, group: TherapyGroup, user: User) -> None:
    rights.grant(user=user, group=group)
    audit_record(
        actor=actor,
        action=AuditAction.FACILITATOR_RIGHTS_GRANTED,
        target=user,
        group_id=group.pk,
    )


def _revoke_facilitator(
    *, actor: User, group: TherapyGroup, user: User, details: dict[str, object] | None = None
) -> None:
    if rights.revoke(user=user, group=group):
        audit_record(
            actor=actor,
            action=AuditAction.FACILITATOR_RIGHTS_REVOKED,
            target=user,
            group_id=group.pk,
            details=details,
        )


EDITABLE_FIELDS = (
    "title",
    "topic",
    "description",
    "agreement",
    "capacity",
    "language",
    "is_listed",
    "is_closed",
    "time_zone",
    "transcript_retention_days",
)


def group_update(*, actor: User, group: TherapyGroup, **changes: object) -> TherapyGroup:
    """Change a group's details. Raising the capacity gives places to the waiting list."""
    _require_active(actor)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"group_update cannot change {sorted(unknown)}")
    changes |= _cleaned_texts(changes)
    with transaction.atomic():
        locked = TherapyGroup.objects.select_for_update().get(pk=group.pk)
        _require_right(actor, locked, rights.FACILITATE)
        if locked.is_archived:
            raise ServiceError("This group is archived and can no longer change.", code="archived")
        if locked.kind == TherapyGroup.Kind.PEER_SUPERVISION and changes.get("is_closed") is False:
            raise ServiceError("Peer supervision groups are always closed.", code="peer_closed")
        changed = [name for name, value in changes.items() if getattr(locked, name) != value]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, changes[name])
        if "capacity" in changed and locked.capacity < _active_count(locked):
            raise ServiceError(
                f"{_active_count(locked)} people already have a place, so the capacity cannot "
                "be lower than that.",
                code="capacity_below_members",
            )
        locked.full_clean()
        locked.save(update_fields=[*changed, "updated_at"])
        audit_record(
            actor=actor,
            action=AuditAction.GROUP_EDITED,
            target=locked,
            group_id=locked.pk,
            details={"fields": changed},
        )
        if "capacity" in changed:
            _fill_free_places(actor=actor, group=locked)
            store_seats_taken(locked)
    return locked


def group_archive(*, actor: User, group: TherapyGroup) -> TherapyGroup:
    """Close a group for good: its future sessions are cancelled and it leaves the directory."""
    _require_active(actor)
    with transaction.atomic():
        locked = TherapyGroup.objects.select_for_update().get(pk=group.pk)
        _require_right(actor, locked, rights.FACILITATE)
        if locked.is_archived:
            return locked
        now = timezone.now()
        for session in locked.sessions.filter(starts_at__gt=now, cancelled_at__isnull=True):
            _cancel_one(actor=actor, session=session, reason="The group has ended.", now=now)
        locked.archived_at = now
        locked.save(update_fields=["archived_at", "updated_at"])
        store_next_session(locked, now=now)
        audit_record(
            actor=actor, action=AuditAction.GROUP_ARCHIVED, target=locked, group_id=locked.pk
        )
    return locked


def co_facilitator_add(*, actor: User, group: TherapyGroup, user: User) -> None:
    """The lead facilitator asks a colleague to co-facilitate: they get the same rights."""
    _require_active(actor)
    if actor.pk != group.facilitator_id:
        raise ServiceError("Only the lead facilitator can add co-facilitators.", code="forbidden")
    _require_right(actor, group, rights.FACILITATE)  # a lead whose role was revoked is named only
    if user.pk == group.facilitator_id:
        raise ServiceError("You already lead this group.", code="already_leads")
    if group.co_facilitators.filter(pk=user.pk).exists():
        raise ServiceError(
            f"{user.display_name} already co-facilitates this group.", code="already_co_facilitates"
        )
    if not _may_lead(user, group.kind):
        raise ServiceError(
            f"{user.display_name} cannot co-facilitate this group: "
            + _lead_refusal(group.kind).message.lower(),
            code="not_eligible",
        )
    with transaction.atomic():
        group.co_facilitators.add(user)
        _grant_facilitator(actor=actor, group=group, user=user)


def co_facilitator_remove(*, actor: User, group: TherapyGroup, user: User) -> None:
    """A co-facilitator steps down (or the lead removes them); their rights end at once."""
    if actor.pk not in (group.facilitator_id, user.pk):
        raise ServiceError(
            "Only the lead facilitator can remove co-facilitators.", code="forbidden"
        )
    with transaction.atomic():
        group.co_facilitators.remove(user)
        _revoke_facilitator(actor=actor, group=group, user=user)


def facilitator_rights_revoke_lapsed(
    *, actor: User, user: User, roles: frozenset[Role]
) -> list[TherapyGroup]:
    """Take away ``user``'s rights on every group their roles no longer let them lead.

    ``accounts.services.role_revoke`` calls this (through ``accounts.hooks``) in its transaction
    once ``roles`` are gone: a therapist struck off loses every group, a peer supervisor who is
    no longer one loses the peer-supervision groups. One audit event per group. A lead
    facilitator stays named on the group, holding no rights; a co-facilitator is taken off it.
    """
    with transaction.atomic():
        held = rights.groups_with_any_right(user=user)
        lapsed = [
            group
            for group in TherapyGroup.objects.filter(pk__in=held).order_by("pk")
            if not _may_lead(user, group.kind)
        ]
        for group in lapsed:
            group.co_facilitators.remove(user)
            _revoke_facilitator(
                actor=actor,
                group=group,
                user=user,
                details={"reason": "role_revoked", "roles": sorted(role.value for role in roles)},
            )
    return lapsed
