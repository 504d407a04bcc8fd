"""Sending runs to Celery: everything between a run's execution record and the broker.

- :mod:`~beat_store.sending.dispatch`: which runs go out, in chunks, and what is recorded of each (through
  :mod:`beat_store.executions`);
- :mod:`~beat_store.sending.messages`: the Celery message of each run, derived from one ``send_task`` per shape;
- :mod:`~beat_store.sending.redis_pipeline`: on Redis, those messages pushed in kombu's envelope, pipelined;
- :mod:`~beat_store.sending.broker_inspection`: whether a run's message already waits in the broker.

:class:`CelerySender` is what the beat engine sends through.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from celery import Celery

from beat_store.runs import SendableRun
from beat_store.sending import dispatch


class CelerySender:
    """Sends runs with one Celery app (the beat's)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def send_planned(self, runs: Sequence[SendableRun], *, now: datetime) -> int:
        """Send runs this beat has just recorded, leased to itself; see :func:`dispatch.send_planned_runs`."""
        return dispatch.send_planned_runs(runs, app=self.app, now=now)

    def send_claimed(self, runs: Sequence[SendableRun], *, now: datetime) -> int:
        """Send pending runs this beat has just claimed; see :func:`dispatch.send_claimed_runs`."""
        return dispatch.send_claimed_runs(runs, app=self.app, now=now)
