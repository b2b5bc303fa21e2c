"""Text hygiene: what people write is stored without hidden controls, and within a limit.

Every app may import accounts, so forms, services and the admin of every app clean and bound
people's words here, the same way, before they are stored. Stored text is then clean wherever
it is shown: pages, the live room, emails, calendars and the admin.

What is removed, and why:

- Bidirectional controls (U+202A to U+202E embeddings and overrides, U+2066 to U+2069 isolates,
  U+200E/U+200F/U+061C marks): a right-to-left override makes "txt.exe" read as "exe.txt" or
  turns a name around, and leaks into whatever is shown after it. Pages isolate people's words
  anyway (``<bdi>``, ``dir="auto"``), so right-to-left scripts still display correctly.
- Invisible characters that only hide or split words: zero width space (U+200B), word joiner
  and invisible operators (U+2060 to U+2064), the deprecated format controls (U+206A to U+206F),
  the byte order mark (U+FEFF), soft hyphen (U+00AD), interlinear annotation marks
  (U+FFF9 to U+FFFB), Hangul fillers (U+3164, U+FFA0: a name of them looks blank), and tag
  characters (U+E0000 to U+E007F) except in the emoji flag sequences that need them.
- Control characters other than tab and newline; line endings become ``\\n`` (so a textarea's
  ``\\r\\n`` counts as one character, as the browser counts it). NUL is left for the forms,
  which refuse it with their own note, and for ``bounded``, which refuses it too.

What is kept: the zero width joiner (U+200D), which joins emoji such as 👩‍⚕️ and shapes
Indic scripts; the zero width non-joiner (U+200C), which Persian and Indic spelling need; the
Mongolian vowel separator (U+180E), part of Mongolian spelling; variation selectors (emoji
versus text presentation).
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import migrations, models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils.deconstruct import deconstructible

from accounts.exceptions import ServiceError

_FLAG_TAGS = "\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{1,6}\U000e007f"
_HIDDEN_CHARS = (
    "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"  # bidirectional controls
    "\u200b\u2060-\u2064\u206a-\u206f\ufeff\u00ad\ufff9-\ufffb\u3164\uffa0"  # invisible
    "\U000e0000-\U000e007f"  # tags (outside flag sequences, kept by the group below)
    "\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"  # controls but tab, newline, carriage return, NUL
)
_HIDDEN = re.compile(f"({_FLAG_TAGS})|[{_HIDDEN_CHARS}]")
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029]")


def strip_hidden(value: str) -> str:
    """``value`` without bidirectional controls and other hidden characters (see above)."""
    return _HIDDEN.sub(lambda match: match.group(1) or "", value)


def clean_text(value: str, *, multiline: bool = False) -> str:
    """What people wrote, ready to store: hidden characters removed, outer space trimmed.

    Single-line text (names, titles, reasons) has every run of spaces and line breaks folded
    into one space; multi-line text keeps its lines, with ``\\n`` line endings.
    """
    value = strip_hidden(_LINE_BREAKS.sub("\n", value))
    if multiline:
        return value.strip()
    return " ".join(value.split())


def too_long_message(*, noun: str, limit: int, length: int) -> str:
    """The kind note for text over its limit: "Descriptions can be up to 2,000 characters;
    yours has 2,412." (``noun`` is plural and capitalised)."""
    return f"{noun} can be up to {limit:,} characters; yours has {length:,}."


@deconstructible
class LengthLimit:
    """A validator for models and forms that refuses text over ``limit`` with the kind note."""

    def __init__(self, limit: int, noun: str) -> None:
        self.limit = limit
        self.noun = noun

    def __call__(self, value: str) -> None:
        if len(value) > self.limit:
            raise ValidationError(
                too_long_message(noun=self.noun, limit=self.limit, length=len(value)),
                code="max_length",
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LengthLimit) and (self.limit, self.noun) == (
            other.limit,
            other.noun,
        )


def bounded(
    value: object,
    *,
    limit: int,
    noun: str,
    multiline: bool = False,
    invalid_code: str = "invalid_text",
) -> str:
    """``value`` cleaned for storing, or a ``ServiceError`` with the kind note.

    For services, which may be called without a form (sockets, the admin, tasks): the same
    cleaning and the same limit as the form, never a silent cut. ``invalid_code`` is the code
    for what is not text at all (not a string, or holding a NUL character).
    """
    if not isinstance(value, str) or "\x00" in value:
        raise ServiceError("Please write plain text.", code=invalid_code)
    text = clean_text(value, multiline=multiline)
    if len(text) > limit:
        raise ServiceError(
            too_long_message(noun=noun, limit=limit, length=len(text)), code="too_long"
        )
    return text


# A spreadsheet reads a cell starting with one of these as a formula ("=HYPERLINK(...)",
# "+cmd|..."), so a name chosen by someone could run in the reader's spreadsheet.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def spreadsheet_safe(value: str) -> str:
    """``value`` for a CSV cell that a spreadsheet will open: one starting like a formula gets
    a leading apostrophe (OWASP's advice), so it is shown as the text it is, never run."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class CleanTextField(forms.CharField):
    """A form field for people's words: cleaned as above, and over ``limit`` refused with the
    kind note, which counts what they wrote after cleaning.

    The input carries no ``maxlength``: a browser would silently cut a longer paste, and the
    person might never notice. They are told instead, and what they wrote is shown again.
    """

    def __init__(
        self, *, limit: int | None, noun: str = "", multiline: bool = False, **kwargs: Any
    ) -> None:
        kwargs.pop("max_length", None)
        if multiline:
            kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4}))
        super().__init__(**kwargs)
        self.multiline = multiline
        if limit is not None:  # None: a validator of the field's own checks the length
            self.validators.append(LengthLimit(limit, noun))

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return clean_text(text, multiline=self.multiline) if text else text


def length_check(field: str, limit: int, *, name: str) -> models.CheckConstraint:
    """A database check that ``field`` (a TextField) holds at most ``limit`` characters, so
    that writes which bypass the forms and services (the shell, raw SQL) are bounded too."""
    return models.CheckConstraint(condition=LessThanOrEqual(Length(field), limit), name=name)


def text_formfield(db_field: Any, **kwargs: Any) -> forms.Field | None:
    """The admin's form field for a model's free-text field: ``CleanTextField`` with the
    model's ``LengthLimit`` note (or, from ``max_length``, one naming the field: "Display name
    can be up to 40 characters; yours has 41."); None for fields that are not people's words
    (choices, emails, links, slugs)."""
    if db_field.choices or type(db_field) not in (models.CharField, models.TextField):
        return None
    limit = next((v for v in db_field.validators if isinstance(v, LengthLimit)), None)
    if limit is None and db_field.max_length is None:
        return None
    multiline = isinstance(db_field, models.TextField)
    defaults: dict[str, Any] = {
        "limit": limit.limit if limit else db_field.max_length,
        "noun": limit.noun if limit else str(db_field.verbose_name).capitalize(),
        "multiline": multiline,
        "required": not db_field.blank,
        "label": str(db_field.verbose_name).capitalize(),
        "help_text": db_field.help_text,
    }
    return CleanTextField(**(defaults | kwargs))


def clean_stored_text(model: type[models.Model], limits: dict[str, int | None]) -> int:
    """For a data migration: clean the text already stored in ``model``'s fields named in
    ``limits``, and cut what is longer than its limit (ending it with "…"). Return how many
    rows changed.

    Cutting is what lets the length checks be added as ordinary, validated constraints: one
    added NOT VALID would instead refuse every later update of an over-long row (PostgreSQL
    checks the whole new row), archiving a group with a 100,000-character description, say.

    Only hidden characters go (spaces are left as they were written). A row whose cleaned
    name would now equal another person's (a unique constraint) is left as it was: pages
    isolate people's words, so its controls reorder nothing around it.
    """
    from django.db import IntegrityError, transaction

    lengths = {f"_length_{field}": Length(field) for field, limit in limits.items() if limit}
    needs = models.Q(pk__in=[])
    for field, limit in limits.items():
        needs |= models.Q(**{f"{field}__regex": f"[{_HIDDEN_CHARS}]"})
        if limit:
            needs |= models.Q(**{f"_length_{field}__gt": limit})
    changed = 0
    rows = model._default_manager.annotate(**lengths).filter(needs)
    for row in rows.values("pk", *limits).iterator():
        updates = {}
        for field, limit in limits.items():
            text = strip_hidden(row[field])
            if limit and len(text) > limit:
                text = text[: limit - 1] + "…"
            if text != row[field]:
                updates[field] = text
        if not updates:  # only flags, whose tag characters stay
            continue
        try:
            with transaction.atomic():
                changed += model._default_manager.filter(pk=row["pk"]).update(**updates)
        except IntegrityError:
            continue
    return changed


def clean_stored_text_migration(
    app_label: str, fields: dict[str, dict[str, int | None]]
) -> migrations.RunPython:
    """A data migration's step: ``clean_stored_text`` on each model of ``app_label`` named in
    ``fields`` ({model: {field: its limit, or None when its column bounds it already}})."""

    def forwards(apps: Any, schema_editor: Any) -> None:
        for model, limits in fields.items():
            clean_stored_text(apps.get_model(app_label, model), limits)

    return migrations.RunPython(forwards, migrations.RunPython.noop)
