"""``date``: a single fire time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from beat_store.triggers.base import to_utc


@dataclass(frozen=True)
class DateTrigger:
    fire_time: datetime

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        return self.fire_time if to_utc(self.fire_time) >= to_utc(moment) else None
