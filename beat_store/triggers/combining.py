"""``or`` and ``and`` combinations, with APScheduler 4's semantics and a stateless search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from beat_store.exceptions import TriggerGaveUp
from beat_store.triggers.base import Trigger, to_utc
from beat_store.triggers.budget import check_budget

#: An ``and`` spec's ``threshold`` (seconds) and ``max_iterations`` when it leaves them out, as in APScheduler 4.
AND_THRESHOLD = timedelta(seconds=1)
AND_MAX_ITERATIONS = 10_000


@dataclass(frozen=True)
class OrTrigger:
    """The earliest next fire time of any member; members agreeing on a time give it once."""

    triggers: Sequence[Trigger]

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        fire_times = [t for t in (member.next_at_or_after(moment) for member in self.triggers) if t is not None]
        return min(fire_times, key=to_utc, default=None)


@dataclass(frozen=True)
class AndTrigger:
    """A time on which every member fires, within ``threshold``; the earliest of those members' times.

    Gives up (``TriggerGaveUp``) after ``max_iterations`` rounds of asking the members."""

    triggers: Sequence[Trigger]
    threshold: timedelta = AND_THRESHOLD
    max_iterations: int = AND_MAX_ITERATIONS

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        candidate = moment
        for _ in range(self.max_iterations):
            check_budget()
            fire_times: list[datetime] = []
            for member in self.triggers:
                fire_time = member.next_at_or_after(candidate)
                if fire_time is None:
                    return None
                fire_times.append(fire_time)
            earliest, latest = min(fire_times, key=to_utc), max(fire_times, key=to_utc)
            if to_utc(latest) - to_utc(earliest) <= self.threshold:
                return earliest
            # Step back by the threshold so a member firing just before the latest time still counts; in UTC,
            # because arithmetic on a zone-aware datetime is wall-clock arithmetic. Always a step forward: the
            # latest time is more than the threshold after the earliest, which is at or after the candidate.
            candidate = to_utc(latest) - self.threshold
        raise TriggerGaveUp(
            f"the 'and' trigger found no fire time its {len(self.triggers)} members agree on "
            f"(within {self.threshold.total_seconds():g} s) after {self.max_iterations} tries "
            f"from {moment.isoformat()}; its members may never coincide"
        )
