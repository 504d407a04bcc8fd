"""Runs whose worker is gone, noticed in about a minute and a half instead of ``BEAT_STORE_LOST_AFTER``.

Celery already knows which tasks each worker runs: a broadcast ``inspect().active()`` (the control API any
worker answers from its main process, busy or not) returns them by worker hostname, and beat_store records the
hostname of the worker that started each run. Every ``BEAT_STORE_WORKER_CHECK_INTERVAL`` seconds (default 30)
beat compares the two. A started run counts as *unaccounted for* in a check when its worker does not answer, or
answers without it (the worker was restarted under the same hostname, or the run's process died without a
report). Unaccounted for in ``MISSES_BEFORE_LOST`` checks in a row (so at least a minute with the default),
the run becomes ``lost`` and frees its max-instances slot. One answer that lists it resets the count, so a
slow or busy worker is never declared lost; a run that a worker starts again afterwards (a redelivery with
``acks_late``) is recorded ``started`` again.

The broadcast waits for replies (``INSPECT_TIMEOUT``), so it runs on a thread of its own; the beat thread only
hands out requests and reads the answers, and does the database work itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from beat_store import executions
from beat_store.conf import settings

logger = logging.getLogger(__name__)

#: Checks in a row in which a started run must be unaccounted for before it is marked lost.
MISSES_BEFORE_LOST = 3
#: Seconds the broadcast waits for the workers' replies.
INSPECT_TIMEOUT = 2.0


class Inspector(Protocol):
    def active_task_ids(self) -> Mapping[str, set[str]]:
        """Task ids each answering worker is running, by worker hostname (blocking)."""


class CeleryInspector:
    """Asks the workers through Celery's control API."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def active_task_ids(self) -> Mapping[str, set[str]]:
        replies = self.app.control.inspect(timeout=INSPECT_TIMEOUT).active() or {}
        return {worker: {str(task.get("id")) for task in tasks or ()} for worker, tasks in replies.items()}


class WorkerLiveness:
    """Driven by the engine's tick (:meth:`check`); asks the workers on a thread of its own."""

    def __init__(self, inspector: Inspector) -> None:
        self.inspector = inspector
        self._misses: dict[str, int] = {}
        self._answer: Mapping[str, set[str]] | None = None
        self._asking: threading.Thread | None = None
        self._next_ask = 0.0

    def check(self, *, now: datetime, monotonic: float) -> int:
        """Use the last answer, if one came, then ask again when due. Returns how many runs became lost."""
        lost = 0
        if self._answer is not None:
            answer, self._answer = self._answer, None
            lost = self._judge(answer, now=now)
        interval = settings.WORKER_CHECK_INTERVAL
        if interval and self._asking is None and monotonic >= self._next_ask:
            self._next_ask = monotonic + interval
            self._asking = threading.Thread(target=self._ask, name="beat_store-worker-liveness", daemon=True)
            self._asking.start()
        return lost

    def _ask(self) -> None:
        try:
            self._answer = self.inspector.active_task_ids()
        except Exception as error:  # the broker is down: no answer is not evidence against any worker
            logger.info("beat_store: could not ask the workers which tasks they run: %s", error)
        finally:
            self._asking = None

    def _judge(self, answer: Mapping[str, set[str]], *, now: datetime) -> int:
        started = executions.started_runs()
        unaccounted = {run.task_id for run in started if run.task_id not in answer.get(run.worker, set())}
        self._misses = {task_id: self._misses.get(task_id, 0) + 1 for task_id in unaccounted}
        gone = [task_id for task_id, misses in self._misses.items() if misses >= MISSES_BEFORE_LOST]
        if not gone:
            return 0
        for task_id in gone:
            del self._misses[task_id]
        lost = executions.mark_worker_gone(gone, now=now)
        if lost:
            logger.warning("beat_store: %d started run(s) marked lost: their worker no longer runs them", lost)
        return lost
