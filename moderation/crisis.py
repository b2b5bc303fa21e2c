"""Signs that someone may be in crisis, in what they write.

The detector is an interface: ``PhraseListDetector`` matches a maintained list of phrases
(``moderation/data/crisis_phrases.txt``); a better classifier can replace it by implementing
``CrisisDetector`` and naming its class in the ``CRISIS_DETECTOR`` setting (a dotted path; the
class is built once, with no arguments). A match never blocks a message: it brings help to the
writer and tells the facilitators.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

PHRASES_FILE = Path(__file__).resolve().parent / "data" / "crisis_phrases.txt"
DEFAULT_DETECTOR = "moderation.crisis.PhraseListDetector"

# Apostrophes people type: ASCII, right and left single quotes, grave and acute accents.
_APOSTROPHES = "'\u2019\u2018`\u00b4"
_NON_WORD = re.compile(r"[^\w*]+", re.UNICODE)


def normalize(text: str) -> list[str]:
    """Words in lower case, without accents, punctuation or apostrophes ("Don't!" -> ["dont"])."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    for mark in _APOSTROPHES:
        plain = plain.replace(mark, "")
    plain = plain.replace("-", " ")
    return [word for word in _NON_WORD.split(plain) if word]


@dataclass(frozen=True)
class CrisisSignal:
    phrase: str  # the list entry that matched (never the message text)


class CrisisDetector(Protocol):
    def detect(self, text: str) -> CrisisSignal | None: ...


@dataclass(frozen=True)
class _Pattern:
    source: str
    words: tuple[str, ...]

    def matches_at(self, words: list[str], start: int) -> bool:
        if start + len(self.words) > len(words):
            return False
        for offset, expected in enumerate(self.words):
            actual = words[start + offset]
            if expected.endswith("*"):
                if not actual.startswith(expected[:-1]):
                    return False
            elif actual != expected:
                return False
        return True


class PhraseListDetector:
    """Matches whole-word phrases from a list, ignoring case, accents and punctuation."""

    def __init__(self, phrases: list[str] | None = None) -> None:
        """Match ``phrases``; by default the maintained list in ``PHRASES_FILE``."""
        if phrases is None:
            phrases = _phrases_in(PHRASES_FILE)
        self.patterns = [
            _Pattern(source=phrase, words=tuple(normalize(phrase)))
            for phrase in phrases
            if normalize(phrase)
        ]

    @classmethod
    def from_file(cls, path: Path = PHRASES_FILE) -> PhraseListDetector:
        return cls(_phrases_in(path))

    def detect(self, text: str) -> CrisisSignal | None:
        words = normalize(text)
        # Joined variants too: "self harm" written as "selfharm" is one word after splitting.
        for start in range(len(words)):
            for pattern in self.patterns:
                if pattern.matches_at(words, start):
                    return CrisisSignal(phrase=pattern.source)
        return None


def _phrases_in(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def crisis_detector() -> CrisisDetector:
    """The detector named by the ``CRISIS_DETECTOR`` setting (built once per path)."""
    return _detector_at(getattr(settings, "CRISIS_DETECTOR", DEFAULT_DETECTOR))


@cache
def _detector_at(path: str) -> CrisisDetector:
    detector: CrisisDetector = import_string(path)()
    return detector
