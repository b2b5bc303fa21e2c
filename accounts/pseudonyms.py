"""Display names: the only name anyone else ever sees. Rules and friendly suggestions."""

from __future__ import annotations

import re
import secrets

from django.core.exceptions import ValidationError

from accounts.text import too_long_message

MIN_LENGTH = 3
MAX_LENGTH = 40

_ADJECTIVES = (
    "Amber", "Brave", "Calm", "Cedar", "Clear", "Gentle", "Golden", "Hazel", "Hopeful",
    "Kind", "Linen", "Maple", "Mellow", "Misty", "Patient", "Quiet", "Rosy", "Silver",
    "Soft", "Steady", "Still", "Sunny", "Warm", "Willow",
)  # fmt: skip
_NOUNS = (
    "Badger", "Brook", "Finch", "Fern", "Harbor", "Heron", "Lantern", "Meadow", "Moss",
    "Oak", "Otter", "Pebble", "Pine", "Robin", "River", "Sparrow", "Stone", "Swallow",
    "Thistle", "Tide", "Wren", "Valley",
)  # fmt: skip

# Names that would let someone pass as a person in charge.
_RESERVED = {
    "admin", "administrator", "facilitator", "hearth", "moderator", "staff", "support",
    "system", "therapist", "a former member", "former member",
}  # fmt: skip

_EMAIL = re.compile(r"\S+@\S+|\bat\b.*\bdot\b", re.IGNORECASE)
_LINK = re.compile(
    r"(https?:|www\.|://|\b[a-z0-9-]+\.(com|net|org|io|co|uk|de|fr|me|app|ly|gg|info|biz)\b)",
    re.IGNORECASE,
)
_ALLOWED = re.compile(r"^[\w .'-]+$")


def normalize_display_name(value: str) -> str:
    """Trim and fold runs of spaces, so "Quiet  Otter " and "Quiet Otter" are one name."""
    return " ".join(value.split())


def validate_display_name(value: str) -> None:
    """Refuse names that identify someone or could be mistaken for a person in charge."""
    name = normalize_display_name(value)
    if len(name) < MIN_LENGTH:
        raise ValidationError(
            "Please choose a name with at least %(min)d characters.",
            code="too_short",
            params={"min": MIN_LENGTH},
        )
    if len(name) > MAX_LENGTH:
        raise ValidationError(
            too_long_message(noun="Names", limit=MAX_LENGTH, length=len(name)), code="too_long"
        )
    if _EMAIL.search(name):
        raise ValidationError(
            "This looks like an email address. Your display name is shown to others, "
            "so please choose a name that does not identify you.",
            code="email",
        )
    if sum(ch.isdigit() for ch in name) >= 6:
        raise ValidationError(
            "This looks like a phone number. Please choose a name without long numbers, "
            "so that no one can contact you outside Hearth.",
            code="phone",
        )
    if _LINK.search(name):
        raise ValidationError(
            "This looks like a web address. Please choose a name without links.",
            code="link",
        )
    if not _ALLOWED.match(name):
        raise ValidationError(
            "Please use letters, numbers, spaces, dots, apostrophes or hyphens only.",
            code="characters",
        )
    if name.casefold() in _RESERVED:
        raise ValidationError(
            "This name is kept for Hearth itself. Please choose another.", code="reserved"
        )


def suggest_display_name() -> str:
    """A friendly random name such as "Quiet Otter 27" (uniqueness is checked by the caller)."""
    return f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_NOUNS)} {secrets.randbelow(90) + 10}"
