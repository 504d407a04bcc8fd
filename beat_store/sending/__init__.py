"""Sending runs to Celery: everything between a run's execution record and the broker.

- :mod:`~beat_store.sending.dispatch`: which runs go out, in chunks, and what is recorded of each (through
  :mod:`beat_store.executions`);
- :mod:`~beat_store.sending.messages`: the Celery message of each run, derived from one ``send_task`` per shape;
- :mod:`~beat_store.sending.redis_pipeline`: on Redis, those messages pushed in kombu's envelope, pipelined;
- :mod:`~beat_store.sending.broker_inspection`: whether a run's message already waits in the broker;
- :mod:`~beat_store.sending.staging` and :mod:`~beat_store.sending.staged_dispatch`: messages of runs decided
  ahead, staged in Redis and released at their send time.

:class:`CelerySender` is what the beat engine sends through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from celery import Celery

from beat_store.runs import SendableRun, StagingOutcome
from beat_store.sending import dispatch, staged_dispatch


class CelerySender:
    """Sends runs with one Celery app (the beat's)."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._can_stage: bool | None = None

    def can_stage(self) -> bool:
        """Can runs decided ahead be staged on this app's broker? Asked of the broker once per process."""
        if self._can_stage is None:
            self._can_stage = staged_dispatch.can_stage(self.app)
        return bool(self._can_stage)

    def stage(self, runs: Sequence[SendableRun]) -> StagingOutcome:
        """Stage the messages of runs decided ahead; see :func:`staged_dispatch.stage_runs`."""
        return staged_dispatch.stage_runs(runs, app=self.app)

    def release_staged(self, *, now: datetime, limit: int) -> int:
        """Release staged runs whose send time has come; see :func:`staged_dispatch.release_staged`."""
        return staged_dispatch.release_staged(app=self.app, now=now, limit=limit)

    def collect_staged_garbage(self, *, now: datetime) -> int:
        return staged_dispatch.collect_staged_garbage(app=self.app, now=now)

    def send_planned(self, runs: Sequence[SendableRun], *, now: datetime) -> int:
        """Send runs this beat has just recorded, leased to itself; see :func:`dispatch.send_planned_runs`."""
        return dispatch.send_planned_runs(runs, app=self.app, now=now)

    def send_claimed(self, runs: Sequence[SendableRun], *, now: datetime) -> int:
        """Send pending runs this beat has just claimed; see :func:`dispatch.send_claimed_runs`."""
        return dispatch.send_claimed_runs(runs, app=self.app, now=now)
