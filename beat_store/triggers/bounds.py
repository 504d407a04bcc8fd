"""``start_at`` / ``end_at``: no fire time before the start or after the end, whatever the trigger kind; and a
member's own zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

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


@dataclass(frozen=True)
class ShownInZone:
    """A member with a zone of its own: the same instants, shown in its parent's zone like every fire time."""

    trigger: Trigger
    zone: tzinfo

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        fire_time = self.trigger.next_at_or_after(moment)
        return None if fire_time is None else fire_time.astimezone(self.zone)
