"""Time zone names to ``ZoneInfo`` objects, with errors a user can act on."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone

from beat_store.exceptions import InvalidTrigger


@lru_cache(maxsize=512)
def get_zone(name: str) -> ZoneInfo:
    """Return the IANA zone called ``name``; raise ``InvalidTrigger("timezone", ...)`` if there is none."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidTrigger("timezone", "a time zone name such as 'Europe/Paris' is required")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        # OSError: a name that is a folder of the zone database ("Europe") or too long for a file name.
        raise InvalidTrigger("timezone", f"unknown time zone {name!r}") from error


def format_moment(moment: datetime) -> str:
    """An instant as people read it everywhere beat_store shows one (admin, commands, chart tooltips): a wall
    time of the site's zone (Django's current time zone), with seconds and the zone's abbreviation,
    "2026-12-03 07:59:12 CET"."""
    try:
        return f"{timezone.localtime(moment):%Y-%m-%d %H:%M:%S %Z}"
    except OverflowError:  # within hours of year 1 or 9999 (a row written around validation): shown in UTC
        return f"{moment:%Y-%m-%d %H:%M:%S} UTC"
