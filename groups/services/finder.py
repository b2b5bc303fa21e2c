"""Keeping and forgetting the answers a person gave "Find a group that fits"."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from groups.finder import FinderAnswers
from groups.models import FinderAnswers as KeptAnswers
from groups.services._common import _require_active


def finder_answers_keep(*, actor: User, answers: FinderAnswers) -> KeptAnswers:
    """Keep ``actor``'s answers, replacing any kept before (they asked us to)."""
    _require_active(actor)
    with transaction.atomic():
        kept, _ = KeptAnswers.objects.update_or_create(
            user=actor, defaults={"answers": answers.as_data(), "kept_at": timezone.now()}
        )
    return kept


def finder_answers_forget(*, actor: User) -> bool:
    """Delete ``actor``'s kept answers; returns whether there were any."""
    deleted, _ = KeptAnswers.objects.filter(user=actor).delete()
    return deleted > 0
