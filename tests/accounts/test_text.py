"""Text hygiene (accounts.text): hidden controls never stored, every limit said kindly."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.exceptions import ServiceError
from accounts.text import CleanTextField, LengthLimit, bounded, clean_text, strip_hidden

RLO, PDF, LRI, PDI = "\u202e", "\u202c", "\u2066", "\u2069"
ZWJ, ZWNJ = "\u200d", "\u200c"
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        (f"Evening {RLO}elcric{PDF} circle", "Evening elcric circle"),
        (f"{LRI}Sam{PDI}", "Sam"),
        ("Sam\u200e\u200f\u061c", "Sam"),
        ("\u202a\u202b\u202c\u202d\u202eAll five\u2066\u2067\u2068\u2069", "All five"),
        ("St\u200baff", "Staff"),
        ("\ufeffBOM and soft\u00adhyphen", "BOM and softhyphen"),
        ("word\u2060joiner\u2061\u2062\u2063\u2064", "wordjoiner"),
        ("\u3164\u3164\u3164", ""),
        ("tag\U000e0041\U000e0042s", "tags"),
        ("bell\x07 and escape\x1b[31m", "bell and escape[31m"),
    ],
)
def test_bidirectional_controls_and_hidden_characters_are_removed(written, stored):
    assert clean_text(written) == stored


@pytest.mark.parametrize(
    "kept",
    [
        f"👩{ZWJ}⚕️ nurse emoji",  # the zero width joiner makes one emoji
        f"می{ZWNJ}خواهم",  # Persian needs the zero width non-joiner
        f"England {ENGLAND}",  # a flag made of tag characters
        "שלום and مرحبا",  # right-to-left scripts themselves
        "Zoë, Anne-Marie, O'Brien",
    ],
)
def test_what_scripts_and_emoji_need_is_kept(kept):
    assert clean_text(kept) == kept
    assert strip_hidden(kept) == kept


def test_single_lines_fold_their_spaces_and_multiple_lines_keep_their_lines():
    assert clean_text("  Quiet \n  Otter\t ") == "Quiet Otter"
    assert clean_text("One\r\nTwo\rThree\u2028Four\n\n", multiline=True) == "One\nTwo\nThree\nFour"


def test_the_note_for_text_over_its_limit_says_the_limit_and_how_long_it_is():
    with pytest.raises(ValidationError) as caught:
        LengthLimit(2000, "Descriptions")("x" * 2412)
    assert caught.value.messages == ["Descriptions can be up to 2,000 characters; yours has 2,412."]


def test_the_limit_counts_what_is_left_after_cleaning():
    field = CleanTextField(limit=5, noun="Names")
    assert field.clean(f"{RLO}Otter{PDF}") == "Otter"
    with pytest.raises(ValidationError):
        field.clean("Otters")


def test_a_form_field_for_words_has_no_maxlength_so_a_long_paste_is_never_cut_silently():
    assert "maxlength" not in CleanTextField(limit=20, noun="Titles").widget_attrs(None)
    assert "maxlength" not in str(CleanTextField(limit=20, noun="Titles").widget.render("t", ""))


def test_services_refuse_text_over_the_limit_instead_of_cutting_it():
    with pytest.raises(ServiceError) as caught:
        bounded("x" * 301, limit=300, noun="Reasons")
    assert caught.value.message == "Reasons can be up to 300 characters; yours has 301."
    assert caught.value.code == "too_long"
    assert bounded(f" {RLO}Kind words{PDF} ", limit=300, noun="Reasons") == "Kind words"


@pytest.mark.parametrize("not_text", [None, 42, ["a"], "a\x00b"])
def test_services_refuse_what_is_not_text(not_text):
    with pytest.raises(ServiceError) as caught:
        bounded(not_text, limit=300, noun="Reasons", invalid_code="invalid_body")
    assert caught.value.code == "invalid_body"
