"""Beat's side of the schedule table: claim the due schedules, decide their runs, advance them.

Contract of :func:`plan_due_schedules`, the first half of a tick: due rows (``next_fire_at <= now``, not paused)
are claimed in one transaction, every run decided for them is recorded as an execution (``pending``, ``missed``
or ``skipped``, through :mod:`beat_store.executions`) and the rows are advanced, all in that transaction: a beat
that dies before COMMIT leaves nothing, one that dies after leaves ``pending`` runs that any beat sends.

The decisions are :mod:`beat_store.planning`'s (pure); the row locking and bulk writes are
:mod:`beat_store.db`'s. Of several beats, each row is claimed by one (``SKIP LOCKED`` where the database has
it, a serialising write transaction on SQLite), and the unique (schedule, fire_time) constraint makes a second
execution for the same fire time impossible either way.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from beat_store import executions, staged_runs
from beat_store.conf import settings
from beat_store.db import bulk
from beat_store.db.locking import skip_locked
from beat_store.models import Schedule
from beat_store.planning import Plan, plan_runs
from beat_store.runs import RecordedRun, StagingOutcome
from beat_store.triggers.budget import time_budget

logger = logging.getLogger(__name__)

#: Columns a tick writes back to each claimed schedule.
_ADVANCED_FIELDS = ("next_fire_at", "last_fire_at", "finished_at", "paused", "last_error")


@dataclass(frozen=True)
class TickSummary:
    claimed: int
    recorded: int
    #: Runs due now, recorded already leased to the planning beat, with their schedule: send them next.
    ready: list[RecordedRun] = field(default_factory=list)


def plan_new_schedules(now: datetime, *, limit: int) -> int:
    """Give a first ``next_fire_at`` to rows written without ``save()`` (``bulk_create``, ``update()``); runs staged
    for them before their timing changed are withdrawn first (``staged_runs``)."""
    with transaction.atomic():
        rows = list(skip_locked(Schedule.objects.unplanned()).order_by("id")[:limit])
        staged_runs.withdraw_unplanned([schedule.pk for schedule in rows])
        for schedule in rows:
            try:
                with time_budget(settings.PLAN_TIME_BUDGET):
                    schedule.reschedule(now, from_start=schedule.last_fire_at is None)
            except Exception as error:  # any trigger error pauses that schedule, never beat
                _pause_for_error(schedule, error)
        bulk.update_rows(Schedule, rows, fields=_ADVANCED_FIELDS)
    return len(rows)


#: Stages the messages of runs decided ahead (``CelerySender.stage``).
Stager = Callable[[Sequence[RecordedRun]], StagingOutcome]


def plan_due_schedules(
    now: datetime,
    *,
    limit: int,
    rng: random.Random,
    owner: str | None = None,
    prepare_until: datetime | None = None,
    stage: Stager | None = None,
) -> TickSummary:
    """Claim up to ``limit`` due schedules, record their runs and advance them, in one transaction.

    With an ``owner``, the runs to send at once are recorded leased to it and come back in ``ready``: the beat
    that planned them sends them without reading them again (see ``executions.record_scheduled_runs``).

    With ``prepare_until`` and ``stage``, schedules due by then are claimed too, and the runs of fire times after
    ``now`` are decided ahead: recorded held for their release, their messages staged by ``stage`` before the
    commit (``staged_runs``); those it could not stage stay ordinary pending runs.
    """
    horizon = prepare_until if prepare_until is not None and stage is not None and prepare_until > now else None
    with transaction.atomic():
        schedules = list(skip_locked(Schedule.objects.due(horizon or now)).order_by("next_fire_at")[:limit])
        if not schedules:
            return TickSummary(claimed=0, recorded=0)
        open_counts = executions.open_run_counts([schedule.pk for schedule in schedules])
        runs: list[RecordedRun] = []
        # Each schedule has its own budget; should costly ones pile up in one batch, the batch stops early and
        # the rest stay due for the next one, so the rows locked here and the runs ready to send wait little.
        give_up_at = time.monotonic() + 2 * settings.PLAN_TIME_BUDGET
        planned = 0
        for schedule in schedules:
            if time.monotonic() > give_up_at:
                break
            planned += 1
            plan = _plan_one(
                schedule, now=now, open_executions=open_counts.get(schedule.pk, 0), rng=rng, prepare_until=horizon
            )
            if plan is None:
                continue  # paused for a trigger error, written below
            runs.extend(executions.scheduled_run(schedule, run) for run in plan.runs)
            _advance(schedule, plan, now=now)
        ahead = staged_runs.hold_for_staging(runs, now=now, at=timezone.now()) if horizon else []
        ready = executions.record_scheduled_runs(runs, leased_to=owner, now=now)
        if ahead:
            _stage(ahead, stage, ready=ready, now=now)
        bulk.update_rows(Schedule, schedules[:planned], fields=_ADVANCED_FIELDS)
    return TickSummary(claimed=planned, recorded=sum(run.pk is not None for run in runs), ready=ready)


def _stage(ahead: list[RecordedRun], stage: Stager | None, *, ready: list[RecordedRun], now: datetime) -> None:
    """Stage the messages of the runs just recorded ahead; those not staged become ordinary pending runs, and the
    schedules whose messages cannot be built are handled as the ordinary path handles them, once."""
    recorded = [run for run in ahead if run.pk is not None]
    outcome = stage(recorded) if stage is not None and recorded else StagingOutcome()
    set_aside = outcome.staged | outcome.unbuildable.keys()
    staged_runs.unstage([run.pk for run in recorded if run.pk is not None and run.pk not in set_aside])
    if outcome.unbuildable:
        _set_aside_unbuildable(recorded, outcome.unbuildable, ready=ready, now=now)


def _set_aside_unbuildable(
    recorded: list[RecordedRun], unbuildable: dict[int, str], *, ready: list[RecordedRun], now: datetime
) -> None:
    """A schedule row whose message cannot be built (written around validation) fails one run, once, and is paused
    (docs/spec.md "Limits"): its first run decided ahead fails now, unless a run of it due now is about to fail the
    same way on the ordinary path; its other runs decided ahead are withdrawn, its next fire time the first of them.
    """
    failing_now = {run.schedule_id for run in ready}
    for schedule_id in {run.schedule_id for run in recorded if run.pk in unbuildable}:
        runs = sorted((run for run in recorded if run.schedule_id == schedule_id), key=lambda run: run.fire_time)
        schedule = runs[0].schedule
        if schedule_id not in failing_now:
            first, runs = runs[0], runs[1:]
            reason = "beat could not build its message: " + next(
                unbuildable[run.pk] for run in [first, *runs] if run.pk in unbuildable
            )
            executions.fail_unsent(first, reason=reason, at=now)
            schedule.paused, schedule.last_error = True, reason
        staged_runs.forget([run.pk for run in runs if run.pk is not None])
        if runs:
            schedule.next_fire_at, schedule.finished_at = runs[0].fire_time, None


def next_fire_at() -> datetime | None:
    """The earliest fire time of an active schedule (None: no schedule will fire)."""
    next_fire: datetime | None = Schedule.objects.filter(paused=False).aggregate(at=Min("next_fire_at"))["at"]
    return next_fire


def _plan_one(
    schedule: Schedule, *, now: datetime, open_executions: int, rng: random.Random, prepare_until: datetime | None
) -> Plan | None:
    assert schedule.next_fire_at is not None
    try:
        with time_budget(settings.PLAN_TIME_BUDGET):
            plan = _plan_runs(schedule, now=now, open_executions=open_executions, rng=rng, prepare_until=prepare_until)
    except Exception as error:  # spec rule 8: a trigger that raises pauses its schedule, never beat
        _pause_for_error(schedule, error)
        return None
    if plan.skipped_span is not None:
        _log_skipped_span(schedule, plan)
    return plan


def _plan_runs(
    schedule: Schedule, *, now: datetime, open_executions: int, rng: random.Random, prepare_until: datetime | None
) -> Plan:
    assert schedule.next_fire_at is not None
    return plan_runs(
        schedule.build_trigger(),
        next_fire_at=schedule.next_fire_at,
        now=now,
        policy=schedule.timing_policy(),
        open_executions=open_executions,
        rng=rng,
        max_catch_up=settings.MAX_CATCH_UP,
        prepare_until=prepare_until,
    )


def _log_skipped_span(schedule: Schedule, plan: Plan) -> None:
    span = plan.skipped_span
    assert span is not None
    logger.warning(
        "Schedule %r was down too long: fire times from %s to %s (about %s) were passed over",
        schedule.name,
        span.first.isoformat(),
        span.last.isoformat() if span.last else "?",
        span.approximate_count if span.approximate_count is not None else "many",
        extra={"schedule_id": schedule.pk, "action": "catch_up_skipped"},
    )


def _pause_for_error(schedule: Schedule, error: Exception) -> None:
    schedule.paused = True
    schedule.last_error = f"{type(error).__name__}: {error}"
    logger.error(
        "Schedule %r paused: its trigger raised %s",
        schedule.name,
        schedule.last_error,
        extra={"schedule_id": schedule.pk, "action": "paused_on_error"},
    )


def _advance(schedule: Schedule, plan: Plan, *, now: datetime) -> None:
    schedule.next_fire_at = plan.next_fire_at
    schedule.last_fire_at = plan.last_fire_at or schedule.last_fire_at
    # A trigger that ran out with its last runs decided ahead finishes with the last of them.
    last_run = max((run.fire_time for run in plan.runs), default=now)
    schedule.finished_at = max(now, last_run) if plan.next_fire_at is None else None
