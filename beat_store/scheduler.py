"""``celery beat -S beat_store.Scheduler``: a thin adapter from Celery's beat loop to store -> planning ->
dispatch. No fire-time maths and no SQL here."""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from celery import beat
from django.db import DatabaseError, connection
from django.utils import timezone

if TYPE_CHECKING:  # models load only once Django is set up, after Celery has imported this module
    from beat_store.runs import RecordedRun

logger = logging.getLogger(__name__)

#: Longest pause after database errors, in seconds (the back-off doubles up to it).
MAX_ERROR_BACKOFF = 30.0
#: Shortest pause between two ticks, in seconds.
MIN_SLEEP = 0.02
#: How often open runs are checked for lost workers, in seconds.
LOST_CHECK_EVERY = 60.0
#: While a herd is being planned, how often pending runs left for any beat are claimed too, in seconds.
CLAIM_EVERY = 1.0
#: With BEAT_STORE_PLAN_AHEAD, how many runs planned ahead a beat holds in memory to send itself (about 3 KiB
#: each, with their schedule); runs planned beyond it are left for any beat to claim at their send time.
HOLD_LIMIT = 10_000


def _drop_connection_if_broken() -> None:
    """Keep the database connection from tick to tick, unless it broke.

    Django's ``close_old_connections()`` is meant for request boundaries: with the default ``CONN_MAX_AGE = 0``
    it closes the connection every time, and a beat ticking every second would open 60 connections a minute.
    A tick that met a database error has closed the connection already; this catches one that broke while the
    beat slept (a restarted server, an idle timeout) before the tick's first query does.
    """
    if connection.connection is not None and not connection.is_usable():
        connection.close()


class Scheduler(beat.Scheduler):
    """Reads due schedules from the database each tick; keeps no per-schedule state in memory (but for the runs
    it planned ahead and holds, with ``BEAT_STORE_PLAN_AHEAD``, up to ``HOLD_LIMIT``)."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._rng = random.SystemRandom()
        self._error_backoff = 0.0
        self._next_lost_check = 0.0
        self._wakeups: Any = None  # a wakeups.WakeupWaiter, made when the first tick has Django ready
        self._held: list[RecordedRun] = []  # runs planned ahead by this beat, which sends them itself
        super().__init__(app, *args, **kwargs)

    def setup_schedule(self) -> None:
        from beat_store.declared import sync_declared_schedules

        report = sync_declared_schedules(self.app)
        logger.info(
            "beat_store: synced %d schedule(s) from settings, removed %d, refused %d",
            len(report.saved),
            len(report.removed),
            len(report.refused),
        )

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One pass: plan due schedules, send due runs; return seconds until the next pass."""
        from beat_store.conf import settings
        from beat_store.health import record_beat_heartbeat

        try:
            _drop_connection_if_broken()
            self._run_once()
            now = timezone.now()
            record_beat_heartbeat(self.owner, now)
            self._error_backoff = 0.0
            sleep = self._sleep_until_next_work(now, cap=settings.MAX_POLL_INTERVAL)
            if sleep <= MIN_SLEEP:
                return sleep
            # With wake-ups configured the sleep happens on the listener, and a wake-up cuts it short.
            return float(self._wakeup_waiter().sleep(sleep))
        except DatabaseError as error:
            self._error_backoff = min(MAX_ERROR_BACKOFF, max(1.0, self._error_backoff * 2))
            logger.error(
                "beat_store: database error, retrying in %.0f s: %s",
                self._error_backoff,
                error,
                extra={"action": "database_error"},
            )
            connection.close()
            return self._error_backoff

    def _run_once(self) -> None:
        from beat_store import dispatch, executions, store
        from beat_store.conf import settings

        now = timezone.now()
        store.plan_new_schedules(now, limit=settings.BATCH_SIZE)
        # Plan a batch, send what is due, repeat: in a herd the first messages leave after one batch has been
        # planned, not after all of them.
        claim_again_at = 0.0
        while True:
            # Held runs whose send time came while a long herd was being planned go out between its batches.
            self._send_held_runs()
            planned = store.plan_due_schedules(
                now,
                limit=settings.BATCH_SIZE,
                rng=self._rng,
                owner=self.owner,
                ahead=settings.PLAN_AHEAD,
                hold=max(0, HOLD_LIMIT - len(self._held)) if settings.PLAN_AHEAD > 0 else 0,
            )
            self._held.extend(planned.held)
            if planned.ready:
                dispatch.send_planned_runs(planned.ready, app=self.app, now=timezone.now())
            planning_done = planned.claimed < settings.BATCH_SIZE
            sent_a_full_batch = False
            # Runs waiting for any beat (jittered, planned ahead, left by a dead beat) are claimed once planning is
            # done, and during a long herd every CLAIM_EVERY seconds, or after every planned batch while claims
            # come back full: a claim query per planned batch cost a herd more than the claims it found, but a
            # backlog of pending runs must not wait for the whole herd to be planned.
            if planning_done or time.monotonic() >= claim_again_at:
                sent_a_full_batch = self._send_due_runs(limit=settings.BATCH_SIZE)
                claim_again_at = 0.0 if sent_a_full_batch else time.monotonic() + CLAIM_EVERY
            if planning_done and not sent_a_full_batch:
                break
        if time.monotonic() >= self._next_lost_check:
            self._next_lost_check = time.monotonic() + LOST_CHECK_EVERY
            executions.mark_lost(now=now)

    def _send_held_runs(self) -> None:
        """Send the runs this beat planned ahead and holds whose send time has come: one update marks those still
        held as being published (a save may have taken one back), then they go out like a tick's own runs."""
        from beat_store import dispatch, store
        from beat_store.conf import settings

        now = timezone.now()
        due = [run for run in self._held if run.send_at <= now]
        if not due:
            return
        self._held = [run for run in self._held if run.send_at > now]
        for start in range(0, len(due), settings.BATCH_SIZE):
            try:
                runs = store.confirm_held_runs(due[start : start + settings.BATCH_SIZE], owner=self.owner)
            except DatabaseError:
                self._held.extend(due[start:])  # still held in the database: tried again next tick
                raise
            if runs:
                dispatch.send_planned_runs(runs, app=self.app, now=timezone.now())

    def _send_due_runs(self, *, limit: int) -> bool:
        """Send one batch of due pending runs; tell whether it was full (more may be waiting)."""
        from beat_store import dispatch, store

        runs = store.claim_pending_runs(timezone.now(), owner=self.owner, limit=limit)
        if runs:
            dispatch.send_claimed_runs(runs, app=self.app, now=timezone.now())
        return len(runs) == limit

    def _sleep_until_next_work(self, now: Any, *, cap: float) -> float:
        from beat_store import store
        from beat_store.conf import settings

        upcoming = min(
            (
                moment
                for moment in (store.next_work_at(now, ahead=settings.PLAN_AHEAD), self._next_held_send_at())
                if moment
            ),
            default=None,
        )
        if upcoming is None:
            return cap
        # Work already due after a full pass is held by another beat (rows locked, runs leased): poll it
        # briefly instead of spinning.
        return max(MIN_SLEEP, min(cap, (upcoming - timezone.now()).total_seconds()))

    def _next_held_send_at(self) -> datetime | None:
        return min((run.send_at for run in self._held), default=None)

    # Celery's beat keeps its entries in a dict; ours live in the database.
    @property
    def schedule(self) -> dict[str, Any]:  # type: ignore[override]
        return {}

    def sync(self) -> None:
        pass

    def _wakeup_waiter(self) -> Any:
        from beat_store.conf import settings
        from beat_store.wakeups import WakeupWaiter

        if self._wakeups is None:
            self._wakeups = WakeupWaiter(retry_after=lambda: max(settings.MAX_POLL_INTERVAL, 1.0))
        return self._wakeups

    def close(self) -> None:
        self._release_held_runs()
        if self._wakeups is not None:
            self._wakeups.close()
        connection.close()

    def _release_held_runs(self) -> None:
        """On a clean stop, hand the runs this beat holds to any beat now instead of when their hold ends."""
        from beat_store import store

        if not self._held:
            return
        held, self._held = self._held, []
        try:
            store.release_runs(
                [run.pk for run in held if run.pk is not None], retry_at=timezone.now(), owner=self.owner
            )
        except DatabaseError as error:  # they are released anyway when their hold ends
            logger.warning("beat_store: could not release %d held run(s): %s", len(held), error)

    @property
    def info(self) -> str:
        return f"    . db -> {connection.vendor} ({connection.settings_dict.get('NAME')})\n    . owner -> {self.owner}"
