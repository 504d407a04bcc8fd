"""The trigger interface every kind implements, and the UTC helpers they share."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol

UTC = timezone.utc
ONE_MICROSECOND = timedelta(microseconds=1)


class Trigger(Protocol):
    """A source of fire times; pure: every time is a parameter."""

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        """Earliest fire time >= moment (moment aware, any zone); aware result in the trigger's zone;
        None = ran out."""


def to_utc(moment: datetime) -> datetime:
    """``moment`` (aware) as UTC; comparing in UTC is the only safe way, because Python compares two
    datetimes sharing a tzinfo by their wall times and ignores ``fold``."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got the naive {moment!r}")
    return moment.astimezone(UTC)


def ceil_to_second(moment: datetime) -> datetime:
    """The first whole second at or after ``moment`` (UTC arithmetic)."""
    if not moment.microsecond:
        return moment
    return moment + timedelta(microseconds=1_000_000 - moment.microsecond)
