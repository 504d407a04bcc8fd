"""The beat engine: what one beat process does, tick after tick, with no Celery machinery in it.

A tick (:meth:`BeatEngine.tick`):

0. where runs are decided ahead (``BEAT_STORE_PREPARE_AHEAD``, PostgreSQL or MySQL with Redis), release the
   staged runs whose send time has come (``Sender.release_staged``, ``beat_store.staged_runs``), when the last
   tick saw some due;
1. give a first fire time to rows written without ``save()`` (``store.plan_new_schedules``);
2. plan a batch of due schedules and send its runs due now, repeatedly, until no due schedule is left
   (``store.plan_due_schedules`` -> ``Sender.send_planned``): in a herd the first messages leave after one
   batch has been planned, not after all of them; with deciding ahead, schedules due within the window are
   planned too, their runs staged (``Sender.stage``), and staged runs come due are released between batches;
3. between batches, and once planning is done, claim and send pending runs left for any beat (jittered runs,
   runs of a beat that died, runs the broker refused) (``executions.claim_pending_runs`` ->
   ``Sender.send_claimed``);
4. every ``LOST_CHECK_EVERY`` seconds, mark runs with no news from a worker ``lost``, and every
   ``BEAT_STORE_WORKER_CHECK_INTERVAL`` seconds compare started runs with what the workers say they run
   (``beat_store.worker_liveness``);
5. record a heartbeat; when nothing is due for a while, delete a batch of history past its retention
   (``beat_store.retention``); then sleep until the next fire or send time (at most ``BEAT_STORE_MAX_POLL_INTERVAL``),
   on the wake-up listener when one is configured.

A database error ends the tick and doubles a back-off pause (up to ``MAX_ERROR_BACKOFF``); the leases hand the
runs this beat held to whoever is alive. The engine reaches the database only through its :class:`Store` and
the broker only through its :class:`Sender`, and reads time only from its :class:`Clock`, so tests drive it
in-process with fakes of each.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from django.db import DatabaseError, connection
from django.utils import timezone

from beat_store import executions, health, retention, staged_runs, store
from beat_store.conf import settings
from beat_store.db.connections import drop_connection
from beat_store.runs import SendableRun, StagingOutcome
from beat_store.store import Stager, TickSummary
from beat_store.wakeups import WakeupWaiter
from beat_store.worker_liveness import WorkerLiveness

logger = logging.getLogger(__name__)

ZERO = timedelta(0)

#: Longest pause after database errors, in seconds (the back-off doubles up to it).
MAX_ERROR_BACKOFF = 30.0
#: Shortest pause between two ticks, in seconds.
MIN_SLEEP = 0.02
#: How often open runs are checked for lost workers, in seconds.
LOST_CHECK_EVERY = 60.0
#: While a herd is being planned, how often pending runs left for any beat are claimed too, in seconds.
CLAIM_EVERY = 1.0
#: History past its retention is deleted only when the next fire or send time is at least this far away.
PRUNE_ONLY_WHEN_IDLE_FOR = 1.0
#: After a batch that was not full, the next look for expired history waits this long (seconds).
PRUNE_EVERY = 60.0
#: After a full batch, the next tick comes this soon (seconds): a backlog goes in small batches, a few a second,
#: rather than in large ones that would keep a tick busy for longer.
PRUNE_AGAIN_AFTER = 0.25


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back: for cadences."""


class SystemClock:
    def now(self) -> datetime:
        return timezone.now()

    def monotonic(self) -> float:
        return time.monotonic()


class Store(Protocol):
    """What the engine reads and writes in the database."""

    def prepare(self) -> None:
        """Before a tick: make sure the connection it will use is usable."""

    def recover(self) -> None:
        """After a database error: drop the connection, so the next tick opens a fresh one."""

    def can_stage(self) -> bool:
        """Does this database take runs decided ahead (row locks, so that releases and edits take turns)?"""

    def plan_new_schedules(self, now: datetime, *, limit: int) -> int: ...

    def plan_due_schedules(
        self,
        now: datetime,
        *,
        limit: int,
        rng: random.Random,
        owner: str,
        prepare_until: datetime | None = None,
        stage: Stager | None = None,
    ) -> TickSummary: ...

    def claim_pending_runs(self, now: datetime, *, owner: str, limit: int) -> Sequence[SendableRun]: ...

    def next_work_at(self, now: datetime, *, ahead: timedelta = ZERO) -> datetime | None:
        """The earliest moment something is due: a schedule's fire time (``ahead`` of it, when runs are decided
        ahead) or a pending run's send time."""

    def next_release_at(self) -> datetime | None:
        """The earliest send time of a staged run (None: none is staged)."""

    def mark_lost(self, *, now: datetime) -> int: ...

    def prune_history(self, now: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` runs retention no longer keeps; return how many."""

    def record_heartbeat(self, owner: str, now: datetime) -> None: ...


class Sender(Protocol):
    """What the engine sends runs through (``beat_store.sending.CelerySender``)."""

    def send_planned(self, runs: Sequence[SendableRun], *, now: datetime) -> int: ...

    def send_claimed(self, runs: Sequence[SendableRun], *, now: datetime) -> int: ...

    def can_stage(self) -> bool:
        """Can runs decided ahead have their messages staged in this broker?"""

    def stage(self, runs: Sequence[SendableRun]) -> StagingOutcome:
        """Stage the messages of runs just decided ahead; say which are staged and which cannot be built."""

    def release_staged(self, *, now: datetime, limit: int) -> int:
        """Release a batch of staged runs whose send time has come; return how many were due."""

    def collect_staged_garbage(self, *, now: datetime) -> int: ...


class Sleeper(Protocol):
    """Where the engine sleeps between ticks (``beat_store.wakeups.WakeupWaiter``)."""

    def sleep(self, seconds: float) -> float:
        """Sleep up to ``seconds`` (or not at all); return how long the caller should still sleep."""

    def close(self) -> None: ...


class DatabaseStore:
    """The engine's :class:`Store` on the default database."""

    def prepare(self) -> None:
        # Django's close_old_connections() is meant for request boundaries: with the default CONN_MAX_AGE = 0 it
        # closes the connection every time, and a beat ticking every second would open 60 connections a minute.
        # This only drops one that broke while the beat slept (a restarted server, an idle timeout).
        if connection.connection is not None and not connection.is_usable():
            drop_connection()

    def recover(self) -> None:
        drop_connection()

    def can_stage(self) -> bool:
        # SQLite's single writer already serialises beats and edits: deciding ahead would gain it nothing.
        return connection.vendor != "sqlite"

    def plan_new_schedules(self, now: datetime, *, limit: int) -> int:
        return store.plan_new_schedules(now, limit=limit)

    def plan_due_schedules(
        self,
        now: datetime,
        *,
        limit: int,
        rng: random.Random,
        owner: str,
        prepare_until: datetime | None = None,
        stage: Stager | None = None,
    ) -> TickSummary:
        return store.plan_due_schedules(
            now, limit=limit, rng=rng, owner=owner, prepare_until=prepare_until, stage=stage
        )

    def claim_pending_runs(self, now: datetime, *, owner: str, limit: int) -> Sequence[SendableRun]:
        return executions.claim_pending_runs(now, owner=owner, limit=limit)

    def next_work_at(self, now: datetime, *, ahead: timedelta = ZERO) -> datetime | None:
        next_fire = store.next_fire_at()
        candidates = (next_fire - ahead if next_fire is not None else None, executions.next_send_at(now))
        return min((moment for moment in candidates if moment is not None), default=None)

    def next_release_at(self) -> datetime | None:
        return staged_runs.next_release_at()

    def mark_lost(self, *, now: datetime) -> int:
        return executions.mark_lost(now=now)

    def prune_history(self, now: datetime, *, limit: int) -> int:
        return retention.prune_batch(now, limit=limit)

    def record_heartbeat(self, owner: str, now: datetime) -> None:
        health.record_beat_heartbeat(owner, now)


def new_owner() -> str:
    """A beat's identity in leases and heartbeats: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class BeatEngine:
    """One beat's loop. Not thread-safe: one engine per beat process, ticked by one thread."""

    sender: Sender
    store: Store = field(default_factory=DatabaseStore)
    clock: Clock = field(default_factory=SystemClock)
    sleeper: Sleeper | None = None
    owner: str = field(default_factory=new_owner)
    #: Notices started runs whose worker is gone (``beat_store.worker_liveness``); None: only LOST_AFTER does.
    liveness: WorkerLiveness | None = None
    rng: random.Random = field(default_factory=random.SystemRandom)
    error_backoff: float = field(default=0.0, init=False)
    _next_lost_check: float = field(default=0.0, init=False)
    #: The earliest staged send time seen at the end of the last tick (``_release_known``: seen at all).
    _next_release_at: datetime | None = field(default=None, init=False)
    _release_known: bool = field(default=False, init=False)
    _next_prune: float = field(default=0.0, init=False)

    def tick(self) -> float:
        """One pass (see the module's docstring); return the seconds the caller should still sleep."""
        try:
            self.store.prepare()
            self.run_once()
            now = self.clock.now()
            self.store.record_heartbeat(self.owner, now)
            self.error_backoff = 0.0
            pause = self._pause_until_next_work(now)
            pause = self._prune_while_idle(now, pause)
        except DatabaseError as error:
            self._release_known = False
            self.error_backoff = min(MAX_ERROR_BACKOFF, max(1.0, self.error_backoff * 2))
            logger.error(
                "beat_store: database error, retrying in %.0f s: %s",
                self.error_backoff,
                error,
                extra={"action": "database_error"},
            )
            self.store.recover()
            return self.error_backoff
        if pause <= MIN_SLEEP:
            return pause
        # With wake-ups configured the sleep happens on the listener, and a wake-up cuts it short.
        return float(self._sleeper().sleep(pause))

    def run_once(self) -> None:
        """Release staged runs due now, plan and send everything due now (and decide ahead what is due soon);
        check for lost runs when that is due. Raises database errors."""
        now = self.clock.now()
        batch = settings.BATCH_SIZE
        ahead = self._prepare_ahead()
        if ahead and self._release_may_be_due(now):
            self._release_staged(limit=batch)
        self.store.plan_new_schedules(now, limit=batch)
        claim_again_at = 0.0
        while True:
            planned = self.store.plan_due_schedules(
                now,
                limit=batch,
                rng=self.rng,
                owner=self.owner,
                prepare_until=now + ahead if ahead else None,
                stage=self.sender.stage if ahead else None,
            )
            if planned.ready:
                self.sender.send_planned(planned.ready, now=self.clock.now())
            planning_done = planned.claimed < batch
            if ahead and not planning_done:
                # While a large herd is decided ahead, runs staged earlier may fall due: they go out between
                # batches, not after the whole herd.
                self._release_staged(limit=batch)
            sent_a_full_batch = False
            # Runs waiting for any beat are claimed once planning is done, and during a long herd every
            # CLAIM_EVERY seconds, or after every planned batch while claims come back full: a claim query per
            # planned batch cost a herd more than the claims it found, but a backlog of pending runs must not
            # wait for the whole herd to be planned.
            if planning_done or self.clock.monotonic() >= claim_again_at:
                sent_a_full_batch = self._send_claimed_batch(limit=batch)
                claim_again_at = 0.0 if sent_a_full_batch else self.clock.monotonic() + CLAIM_EVERY
            if planning_done and not sent_a_full_batch:
                break
        if self.clock.monotonic() >= self._next_lost_check:
            self._next_lost_check = self.clock.monotonic() + LOST_CHECK_EVERY
            self.store.mark_lost(now=now)
        if self.liveness is not None:
            self.liveness.check(now=now, monotonic=self.clock.monotonic())

    def _prepare_ahead(self) -> timedelta:
        """How far ahead runs are decided and staged: ``BEAT_STORE_PREPARE_AHEAD`` where the broker can stage them
        and the database takes them (not SQLite), else nothing."""
        seconds = settings.PREPARE_AHEAD
        if seconds <= 0 or not self.store.can_stage() or not self.sender.can_stage():
            return ZERO
        return timedelta(seconds=seconds)

    def _release_may_be_due(self, now: datetime) -> bool:
        """Whether a tick should look for staged runs to release: unless the last tick saw the earliest staged send
        time still ahead (or none staged). An idle tick then makes no release transaction. Runs another beat
        stages meanwhile are seen by the next tick's end (at most ``BEAT_STORE_MAX_POLL_INTERVAL`` later), and
        are released by that beat meanwhile."""
        if not self._release_known:
            return True
        return self._next_release_at is not None and self._next_release_at <= now

    def _release_staged(self, *, limit: int) -> None:
        while self.sender.release_staged(now=self.clock.now(), limit=limit) >= limit:
            pass

    def _prune_while_idle(self, now: datetime, pause: float) -> float:
        """Delete a batch of expired history when nothing is due for at least ``PRUNE_ONLY_WHEN_IDLE_FOR``
        seconds (so never inside a herd nor just before one); return what is left of ``pause``."""
        idle_enough = pause >= min(PRUNE_ONLY_WHEN_IDLE_FOR, settings.MAX_POLL_INTERVAL)
        if not idle_enough or self.clock.monotonic() < self._next_prune:
            return pause
        started = self.clock.monotonic()
        limit = settings.PRUNE_BATCH
        deleted = self.store.prune_history(now, limit=limit)
        if self._prepare_ahead() and not deleted:
            self.sender.collect_staged_garbage(now=now)
        finished = self.clock.monotonic()
        # A full batch means more is waiting: go on at the next idle moment, else look again in a while.
        backlog = deleted >= limit
        self._next_prune = finished + (0.0 if backlog else PRUNE_EVERY)
        if deleted:
            logger.info(
                "beat_store: deleted %d run(s) past their retention in %.0f ms", deleted, (finished - started) * 1000
            )
        left = max(0.0, pause - (finished - started))
        return min(left, PRUNE_AGAIN_AFTER) if backlog else left

    def close(self) -> None:
        """Release what the engine holds (the wake-up listener, the database connection)."""
        if self.sleeper is not None:
            self.sleeper.close()
        self.store.recover()

    def _send_claimed_batch(self, *, limit: int) -> bool:
        """Send one batch of due pending runs; tell whether it was full (more may be waiting)."""
        runs = self.store.claim_pending_runs(self.clock.now(), owner=self.owner, limit=limit)
        if runs:
            self.sender.send_claimed(runs, now=self.clock.now())
        return len(runs) == limit

    def _pause_until_next_work(self, now: datetime) -> float:
        cap = settings.MAX_POLL_INTERVAL
        ahead = self._prepare_ahead()
        upcoming = self.store.next_work_at(now, ahead=ahead)
        if ahead:
            self._next_release_at, self._release_known = self.store.next_release_at(), True
            if self._next_release_at is not None and (upcoming is None or self._next_release_at < upcoming):
                upcoming = self._next_release_at
        if upcoming is None:
            return cap
        # Work already due after a full pass is held by another beat (rows locked, runs leased): poll it
        # briefly instead of spinning.
        return max(MIN_SLEEP, min(cap, (upcoming - self.clock.now()).total_seconds()))

    def _sleeper(self) -> Sleeper:
        if self.sleeper is None:
            self.sleeper = WakeupWaiter(retry_after=lambda: max(settings.MAX_POLL_INTERVAL, 1.0))
        return self.sleeper
