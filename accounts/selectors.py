"""Reads about people, roles and guidelines."""

from __future__ import annotations

from typing import Literal

from django.db.models import Count, Q, QuerySet

from accounts.models import (
    GUIDELINES_STANDING,
    GuidelinesAcceptance,
    GuidelinesVersion,
    TherapistApplication,
    User,
)
from accounts.pseudonyms import normalize_display_name, suggest_display_name


def display_name_is_taken(*, name: str, exclude_user: User | None = None) -> bool:
    qs = User.objects.filter(display_name__iexact=normalize_display_name(name))
    if exclude_user is not None and exclude_user.pk is not None:
        qs = qs.exclude(pk=exclude_user.pk)
    return qs.exists()


def display_name_suggestion() -> str:
    """A friendly generated name nobody has yet."""
    for _ in range(20):
        name = suggest_display_name()
        if not display_name_is_taken(name=name):
            return name
    return f"{suggest_display_name()}{suggest_display_name()[-2:]}"


def guidelines_current() -> GuidelinesVersion | None:
    """The latest published version, the one everyone must accept."""
    return GuidelinesVersion.objects.filter(published_at__isnull=False).order_by("-version").first()


def guidelines_accepted_current(*, user: User) -> bool:
    """Whether ``user`` accepted the version in force now (one query)."""
    if not user.is_authenticated:
        return False
    latest_published = (
        GuidelinesVersion.objects.filter(published_at__isnull=False)
        .order_by("-version")
        .values("pk")[:1]
    )
    return GuidelinesAcceptance.objects.filter(user=user, version=latest_published).exists()


GuidelinesStanding = Literal["accepted", "first", "update"]


def guidelines_standing(*, user: User) -> GuidelinesStanding:
    """Where ``user`` stands with the guidelines in force (one query): ``accepted`` them,
    still to accept them for the ``first`` time, or to accept an ``update`` of a version they
    accepted before. Anonymous visitors are ``first``. Asks nothing when the login's
    query (``accounts.backends``) has found it already."""
    if not user.is_authenticated:
        return "first"
    if (standing := getattr(user, GUIDELINES_STANDING, None)) is not None:
        return standing
    latest_published = (
        GuidelinesVersion.objects.filter(published_at__isnull=False)
        .order_by("-version")
        .values("pk")[:1]
    )
    counts = GuidelinesAcceptance.objects.filter(user=user).aggregate(
        current=Count("pk", filter=Q(version=latest_published)), any=Count("pk")
    )
    if counts["current"]:
        return "accepted"
    return "update" if counts["any"] else "first"


def therapist_applications_for(*, user: User) -> QuerySet[TherapistApplication]:
    return TherapistApplication.objects.filter(user=user).order_by("-submitted_at")
