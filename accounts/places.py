"""Time zones and countries a person can choose."""

from __future__ import annotations

import zoneinfo
from functools import cache
from importlib.resources import files

from django.core.exceptions import ValidationError


@cache
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone this machine knows, sorted, without the legacy aliases."""
    zones = sorted(
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/"))
    )
    return (*zones, "UTC")


def validate_time_zone(value: str) -> None:
    if value not in time_zone_names():
        raise ValidationError(
            "We do not recognise that time zone. Please pick one from the list, "
            "such as Europe/London or America/New_York.",
            code="time_zone",
        )


# Countries a person can say they are in, so that "Get help now" shows their lines first.
COUNTRIES = (
    ("AU", "Australia"),
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("DK", "Denmark"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("IN", "India"),
    ("IE", "Ireland"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("MX", "Mexico"),
    ("NL", "Netherlands"),
    ("NZ", "New Zealand"),
    ("NO", "Norway"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("ZA", "South Africa"),
    ("ES", "Spain"),
    ("SE", "Sweden"),
    ("CH", "Switzerland"),
    ("GB", "United Kingdom"),
    ("US", "United States"),
)


# Old names some browsers still report (Chrome says "Asia/Calcutta"), which zone.tab leaves out,
# for the countries Hearth lists: so that "Get help now" still finds their country.
_OLD_ZONE_COUNTRIES = {
    "Asia/Calcutta": "IN",
    "Europe/Belfast": "GB",
    "Atlantic/Jan_Mayen": "NO",
    "America/Porto_Acre": "BR",
    "America/Ensenada": "MX",
    "America/Santa_Isabel": "MX",
    **dict.fromkeys(
        (
            "America/Atka",
            "America/Fort_Wayne",
            "America/Indianapolis",
            "America/Knox_IN",
            "America/Louisville",
            "America/Shiprock",
        ),
        "US",
    ),
    **dict.fromkeys(
        (
            "America/Coral_Harbour",
            "America/Montreal",
            "America/Nipigon",
            "America/Pangnirtung",
            "America/Rainy_River",
            "America/Thunder_Bay",
            "America/Yellowknife",
        ),
        "CA",
    ),
}
_OLD_ZONE_PREFIXES = {"Australia/": "AU", "Brazil/": "BR", "Canada/": "CA", "Mexico/": "MX"}


@cache
def _zone_countries() -> dict[str, str]:
    """Zone to country code, from the tz database's zone.tab (in the pinned ``tzdata``)."""
    try:
        table = (files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return {}
    rows = (line.split("\t") for line in table.splitlines() if line and line[0] != "#")
    return {row[2]: row[0] for row in rows if len(row) >= 3}


def country_for_time_zone(zone: str) -> str:
    """The country a time zone is in (``America/Chicago`` → ``US``), or "" if it is in none
    (UTC) or unknown. A guess: people travel, and borders and zones do not always agree."""
    country = _zone_countries().get(zone) or _OLD_ZONE_COUNTRIES.get(zone, "")
    if not country:
        country = next((c for p, c in _OLD_ZONE_PREFIXES.items() if zone.startswith(p)), "")
    return country
