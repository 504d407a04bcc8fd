"""``start_at`` / ``end_at``: no fire time before the start or after the end, whatever the trigger kind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from beat_store.triggers.base import Trigger, to_utc


@dataclass(frozen=True)
class BoundedTrigger:
    trigger: Trigger
    start_at: datetime | None = None
    end_at: datetime | None = None

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        if self.start_at is not None and to_utc(moment) < to_utc(self.start_at):
            moment = self.start_at
        if self.end_at is not None and to_utc(moment) > to_utc(self.end_at):
            return None
        fire_time = self.trigger.next_at_or_after(moment)
        if fire_time is None or (self.end_at is not None and to_utc(fire_time) > to_utc(self.end_at)):
            return None
        return fire_time
