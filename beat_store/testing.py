"""Helpers for testing schedules and the beat engine, in this project's tests and in yours."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone


class ManualClock:
    """A :class:`beat_store.engine.Clock` that stands still until it is moved: ``now`` and monotonic time
    advance together, by :meth:`advance`, or jump with :meth:`set`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or timezone.now()
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
