"""Display names: the only name anyone else ever sees. Rules and friendly suggestions."""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError

from accounts.roles import Role
from accounts.text import strip_hidden, too_long_message

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


# Words that make a name sound like Hearth itself, its staff, or a group's leader. Matched as
# whole words of the name's look-alike skeleton (below), so "Stafford" and "Teamwork" are fine.
_OFFICIAL_WORDS = (
    "hearth", "staff", "team", "support", "helpdesk", "official", "system", "sysop", "security",
    "admin", "administrator", "administration", "moderator", "moderation", "mod",
    "facilitator", "cofacilitator", "host", "leader", "supervisor",
    "therapist", "psychotherapist", "therapists", "counsellor", "counselor", "counselling",
    "counseling", "psychologist", "psychiatrist", "clinician",
)  # fmt: skip

# Letters of other alphabets that look like Latin ones (Cyrillic, then Greek; upper and lower
# case differ: a capital Eta looks like "H", a small one like "n"), then, once case is folded,
# digits and symbols used as letters. "l", "1" and "i" all become "i" on both sides of the
# comparison, as many fonts hardly tell them apart.
_OTHER_ALPHABETS = str.maketrans(
    "АВЕКМНОРСТУХЅІЈаеорсхуіјѕһԁӏԛԝвкмнтΑΒΕΖΗΙΚΜΝΟΡΤΥΧαεικνορτυχϲ",
    "abekmhopctyxsijaeopcxyijshdiqwbkmhtabezhikmnoptyxaeiknoptuxc",
)
_AS_LETTERS = str.maketrans("01l|!34@5$789", "oiiiieaasstbg")


def _skeleton_words(name: str) -> list[str]:
    """The words of ``name`` as they look: compatibility forms unified (NFKC: full-width and
    mathematical letters), humps split ("HearthTeam"), look-alike letters, digits and symbols
    read as the letters they imitate, accents dropped, "rn" read as "m"; whatever is not a
    letter separates words."""
    text = unicodedata.normalize("NFKC", strip_hidden(name))
    text = "".join(
        f" {ch}" if ch.isupper() and before.islower() else ch
        for before, ch in zip(f" {text}", text, strict=False)
    ).translate(_OTHER_ALPHABETS)
    text = unicodedata.normalize("NFKD", text.casefold()).translate(_AS_LETTERS)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).replace("rn", "m")
    return re.findall(r"[a-z]+", text)


_OFFICIAL = frozenset(word for w in _OFFICIAL_WORDS for word in _skeleton_words(w))
_OFFICIAL_OR_PLURAL = _OFFICIAL | {f"{word}s" for word in _OFFICIAL}
# Small words that may be run together with official ones ("TheStaff", "YOURTHERAPIST").
_FILLERS = frozenset({"the", "your", "our", "my", "from", "of"})


def _all_official(run: str) -> bool:
    """Whether ``run`` is official words, with perhaps a few small words, written together
    ("hearthteam", "thestaff"); "stafford" and "teamwork" are not."""
    # ends[i]: (run[:i] splits into known words, and one of them was official)
    ends: list[tuple[bool, bool] | None] = [None] * (len(run) + 1)
    ends[0] = (True, False)
    for start in range(len(run)):
        if ends[start] is None:
            continue
        official_before = ends[start][1]  # type: ignore[index]
        for stop in range(start + 1, min(len(run), start + 20) + 1):
            piece = run[start:stop]
            official = piece in _OFFICIAL_OR_PLURAL
            if official or piece in _FILLERS:
                seen = ends[stop]
                ends[stop] = (True, official_before or official or bool(seen and seen[1]))
    return bool(ends[-1] and ends[-1][1])


def sounds_official(name: str) -> bool:
    """Whether ``name`` poses as Hearth, its staff or a group's leader: one of its words, or a
    run of its words written together ("S t a f f", "Hear-th", "HearthTeam"), is made of
    official words (or their plurals), once look-alikes are undone ("St4ff", "Adrnin", "Admin"
    with a Cyrillic "a")."""
    words = _skeleton_words(name)
    for start in range(len(words)):
        run = ""
        for word in words[start:]:
            run += word
            if len(run) > 40:
                break
            if _all_official(run):
                return True
    return False


def may_sound_official(user: Any) -> bool:
    """People who speak for Hearth (the staff role) may have names that say so, such as the
    demo's "Sam from Hearth"; anyone else's would mislead."""
    return bool(user is not None and (user.is_staff or user.has_role(Role.STAFF)))


def validate_chosen_name(name: str, *, chooser: Any = None) -> None:
    """Refuse a name that sounds official, unless ``chooser`` (the person choosing their own
    name; None at sign-up) may sound official. Names set by staff in the admin are not checked:
    that is the staff's own path."""
    if not may_sound_official(chooser) and sounds_official(name):
        raise ValidationError(
            "Names that sound like Hearth's staff or a group's leader could confuse people, "
            "so please choose another.",
            code="sounds_official",
        )


def suggest_display_name() -> str:
    """A friendly random name such as "Quiet Otter 27" (uniqueness is checked by the caller)."""
    return f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_NOUNS)} {secrets.randbelow(90) + 10}"
