"""Reads for moderation and safety."""

from __future__ import annotations

from itertools import groupby

from moderation.models import CrisisLine


def crisis_lines_by_country(*, country: str = "") -> list[tuple[str, list[CrisisLine]]]:
    """Active crisis lines grouped by country: the person's own country first, then lines
    that serve anywhere, then the rest in code order (one query)."""
    lines = list(
        CrisisLine.objects.filter(is_active=True).order_by("country", "sort_order", "name")
    )

    def rank(code: str) -> tuple[int, str]:
        if country and code == country:
            return (0, code)
        if code == CrisisLine.INTERNATIONAL:
            return (1, code)
        return (2, code)

    grouped = [(code, list(items)) for code, items in groupby(lines, key=lambda line: line.country)]
    return sorted(grouped, key=lambda pair: rank(pair[0]))
