"""Helpers for testing schedules with beat_store, in this project's tests and in yours.

- :class:`ManualClock`: a clock that stands still until the test moves it;
- :class:`BeatHarness`: a beat engine ticked by the test at the moments it names (``beat_store_beat``);
- :func:`assert_next_fire_times`: a schedule's (or a trigger spec's) next fire times, compared with a readable
  message.

The pytest fixtures built on them are in :mod:`beat_store.pytest_plugin`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from django.db.models import Max
from django.utils import timezone as dj_timezone

from beat_store import store
from beat_store.engine import BeatEngine
from beat_store.models import Execution, Schedule
from beat_store.triggers import next_fire_times
from beat_store.triggers.build import fire_times_of

#: A run_until() that would tick more often than this is a trigger firing too often for a test to follow.
MAX_TICKS = 10_000


class ManualClock:
    """A :class:`beat_store.engine.Clock` that stands still until it is moved: ``now`` and monotonic time
    advance together, by :meth:`advance`, or jump with :meth:`set`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or dj_timezone.now()
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.current

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)
        self.elapsed += seconds

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (monotonic time moves by as much, or stays when moving back)."""
        self.elapsed += max(0.0, (moment - self.current).total_seconds())
        self.current = moment


@dataclass
class BeatHarness:
    """A beat engine that ticks when the test says, at the time the test says.

    Each call returns the executions the ticks recorded (scheduled runs: ``pending``, ``sent``, ``missed``,
    ``skipped``, as they stand once the call is done), oldest fire time first. What is sent goes through
    ``engine.sender``: the project's Celery app by default, so a worker (an in-process one:
    ``beat_store_worker``) runs the tasks and records their outcome.
    """

    engine: BeatEngine
    clock: ManualClock

    def tick(self, at: datetime | None = None) -> list[Execution]:
        """Move the clock to ``at`` (when given) and run one pass of the engine."""
        if at is not None:
            self.clock.set(at)
        return self._recorded_by(lambda: self.engine.run_once())

    def run_until(self, moment: datetime) -> list[Execution]:
        """Tick at every fire time up to ``moment``, then at ``moment`` itself (runs delayed by jitter go out)."""

        def ticks() -> None:
            for _ in range(MAX_TICKS):
                next_fire = store.next_fire_at()
                if next_fire is None or next_fire > moment:
                    break
                self.clock.set(max(next_fire, self.clock.now()))
                self.engine.run_once()
            else:
                raise AssertionError(f"more than {MAX_TICKS} ticks before {moment.isoformat()}")
            self.clock.set(max(moment, self.clock.now()))
            self.engine.run_once()

        return self._recorded_by(ticks)

    @staticmethod
    def _recorded_by(action: Any) -> list[Execution]:
        newest_before = Execution.objects.aggregate(newest=Max("pk"))["newest"] or 0
        action()
        recorded = Execution.objects.filter(pk__gt=newest_before, manual=False)
        return list(recorded.order_by("fire_time", "pk"))


def assert_next_fire_times(
    schedule: Schedule | str | Mapping[str, Any],
    expected: Sequence[datetime],
    *,
    after: datetime | None = None,
    timezone: str | tzinfo | None = None,
) -> None:
    """Assert the next fire times of a schedule (an instance or its name) or of a trigger spec.

    For a schedule, they are counted from ``after`` (default: its ``next_fire_at``, else now) with its own zone
    and bounds, as beat computes them; for a spec, as :func:`beat_store.next_fire_times` does. Datetimes compare
    as instants, so ``expected`` may be in any zone (but must be aware).
    """
    if any(moment.utcoffset() is None for moment in expected):
        raise ValueError("expected fire times must be aware datetimes")
    if isinstance(schedule, Mapping):
        actual = next_fire_times(schedule, timezone=timezone, after=after, count=len(expected))
    else:
        row = schedule if isinstance(schedule, Schedule) else Schedule.objects.get(name=schedule)
        actual = _schedule_fire_times(row, after=after, count=len(expected))
    if [moment.timestamp() for moment in actual] != [moment.timestamp() for moment in expected]:
        label = schedule.get("type", "trigger") if isinstance(schedule, Mapping) else str(schedule)
        raise AssertionError(
            f"next fire times of {label}:\n  expected {[m.isoformat() for m in expected]}\n"
            f"  actual   {[m.isoformat() for m in actual]}"
        )


def _schedule_fire_times(schedule: Schedule, *, after: datetime | None, count: int) -> list[datetime]:
    moment = after or schedule.next_fire_at or dj_timezone.now()
    return fire_times_of(schedule.build_trigger(), after=moment, count=count)
