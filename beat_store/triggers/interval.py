"""``interval``: fire times ``anchor + k * period`` (k >= 0), in elapsed time: DST never bends them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from beat_store.triggers.base import ONE_MICROSECOND, to_utc


@dataclass(frozen=True)
class IntervalTrigger:
    period: timedelta
    anchor: datetime
    zone: tzinfo

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        anchor = to_utc(self.anchor)
        elapsed = to_utc(moment) - anchor
        if elapsed <= timedelta(0):
            return anchor.astimezone(self.zone)
        # Ceil division on whole microseconds: exact, and O(1) however long the schedule was idle.
        steps = -(-(elapsed // ONE_MICROSECOND) // (self.period // ONE_MICROSECOND))
        try:
            return (anchor + steps * self.period).astimezone(self.zone)
        except OverflowError:
            return None
