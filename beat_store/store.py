"""All of beat's SQL. Contract of a tick:

1. ``plan_due_schedules`` claims due rows (``next_fire_at <= now``, not paused) in one transaction, records
   every decided run as an ``Execution`` (``pending``, ``missed`` or ``skipped``) and advances the rows, all
   in that transaction: a beat that dies before COMMIT leaves nothing, one that dies after leaves ``pending``
   runs that any beat sends.
2. ``claim_pending_runs`` leases pending runs whose ``send_at`` has come, so that of several beats exactly one
   sends each; ``dispatch`` sends them and marks them ``sent``.

On PostgreSQL rows are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite a write transaction
serialises beats. Either way the unique (schedule, fire_time) constraint makes a second execution for the
same fire time impossible.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Min, Q, QuerySet

from beat_store import headers
from beat_store.conf import settings
from beat_store.enums import CoalescePolicy, ExecutionStatus
from beat_store.models import Execution, Schedule
from beat_store.planning import Plan, PlannedRun, TimingPolicy, plan_runs

logger = logging.getLogger(__name__)

#: What sending a run reads, of the run and of its schedule.
_SEND_FIELDS = (
    "schedule_name",
    "task",
    "fire_time",
    "task_id",
    "send_at",
    "deadline_at",
    "kwargs_override",
    "publish_attempted_at",
    "schedule__args",
    "schedule__kwargs",
    "schedule__queue",
    "schedule__exchange",
    "schedule__routing_key",
    "schedule__priority",
    "schedule__expires",
    "schedule__headers",
)

#: Columns ``plan_due_schedules`` writes back to each claimed schedule.
_ADVANCED_FIELDS = ["next_fire_at", "last_fire_at", "finished_at", "paused", "last_error"]


@dataclass(frozen=True)
class TickSummary:
    claimed: int
    recorded: int


def timing_policy_of(schedule: Schedule) -> TimingPolicy:
    return TimingPolicy(
        coalesce=CoalescePolicy(schedule.coalesce),
        misfire_grace_time=schedule.misfire_grace_time,
        max_instances=schedule.max_instances,
        jitter=schedule.jitter,
    )


def _lock(queryset: QuerySet[Any]) -> QuerySet[Any]:
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset


def plan_new_schedules(now: datetime, *, limit: int) -> int:
    """Give a first ``next_fire_at`` to rows written without ``save()`` (``bulk_create``, ``update()``)."""
    with transaction.atomic():
        rows = list(_lock(Schedule.objects.unplanned()).order_by("id")[:limit])
        for schedule in rows:
            try:
                schedule.reschedule(now, from_start=schedule.last_fire_at is None)
            except Exception as error:  # any trigger error pauses that schedule, never beat
                _pause_for_error(schedule, error)
        _write_advances(rows)
    return len(rows)


def plan_due_schedules(now: datetime, *, limit: int, rng: random.Random) -> TickSummary:
    """Claim up to ``limit`` due schedules, record their runs and advance them, in one transaction."""
    with transaction.atomic():
        schedules = list(_lock(Schedule.objects.due(now)).order_by("next_fire_at")[:limit])
        if not schedules:
            return TickSummary(claimed=0, recorded=0)
        open_counts = _open_execution_counts(s.pk for s in schedules)
        executions: list[Execution] = []
        for schedule in schedules:
            plan = _plan_one(schedule, now=now, open_executions=open_counts.get(schedule.pk, 0), rng=rng)
            if plan is not None:
                executions.extend(_execution_rows(schedule, plan.runs))
                _advance(schedule, plan, now=now)
        # ignore_conflicts: should a row be planned twice (a form saved with a stale next_fire_at), the
        # unique (schedule, fire_time) constraint keeps the first record and drops the repeat.
        Execution.objects.bulk_create(executions, ignore_conflicts=True, batch_size=500)
        _write_advances(schedules)
    return TickSummary(claimed=len(schedules), recorded=len(executions))


def _write_advances(schedules: list[Schedule]) -> None:
    """Write the advanced state of many schedules in one statement per batch.

    ``QuerySet.bulk_update`` builds a CASE expression per field and row in Python, which dominated a herd's
    planning time. PostgreSQL gets one ``UPDATE ... FROM (VALUES ...)``; other databases one ``executemany``.
    """
    if not schedules:
        return
    meta = Schedule._meta
    fields = [field for field in meta.concrete_fields if field.name in _ADVANCED_FIELDS]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(str(meta.pk.column))
    rows = [
        [schedule.pk] + [field.get_db_prep_save(getattr(schedule, field.attname), connection) for field in fields]
        for schedule in schedules
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            casts = ["bigint"] + [field.db_type(connection) or "text" for field in fields]
            row_sql = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
            names = ", ".join(quote(str(field.column)) for field in fields)
            assignments = ", ".join(f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in fields)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row_sql] * len(rows))}) "
                f"AS v(id, {names}) WHERE {table}.{pk} = v.id",
                [value for row in rows for value in row],
            )
        else:
            assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [row[1:] + row[:1] for row in rows])


def _plan_one(schedule: Schedule, *, now: datetime, open_executions: int, rng: random.Random) -> Plan | None:
    assert schedule.next_fire_at is not None
    try:
        plan = plan_runs(
            schedule.build_trigger(),
            next_fire_at=schedule.next_fire_at,
            now=now,
            policy=timing_policy_of(schedule),
            open_executions=open_executions,
            rng=rng,
            max_catch_up=settings.MAX_CATCH_UP,
        )
    except Exception as error:  # SPEC rule 8: a trigger that raises pauses its schedule, never beat
        _pause_for_error(schedule, error)
        return None
    if plan.skipped_span is not None:
        span = plan.skipped_span
        logger.warning(
            "Schedule %r was down too long: fire times from %s to %s (about %s) were passed over",
            schedule.name,
            span.first.isoformat(),
            span.last.isoformat() if span.last else "?",
            span.approximate_count if span.approximate_count is not None else "many",
            extra={"schedule_id": schedule.pk, "action": "catch_up_skipped"},
        )
    return plan


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
    schedule.finished_at = now if plan.next_fire_at is None else None


def _open_execution_counts(schedule_ids: Iterable[int]) -> dict[int, int]:
    rows = (
        Execution.objects.open()
        .filter(schedule_id__in=list(schedule_ids))
        .values("schedule_id")
        .annotate(n=Count("id"))
    )
    return {row["schedule_id"]: row["n"] for row in rows}


def _execution_rows(schedule: Schedule, runs: Iterable[PlannedRun]) -> list[Execution]:
    return [_execution_row(schedule, run, manual=False) for run in runs]


def _execution_row(schedule: Schedule, run: PlannedRun, *, manual: bool) -> Execution:
    is_final = run.status != ExecutionStatus.PENDING
    return Execution(
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=run.fire_time,
        jitter=run.jitter,
        manual=manual,
        task_id=str(uuid.uuid4()) if manual else headers.task_id_for(schedule.pk, schedule.name, run.fire_time),
        status=run.status,
        send_at=run.send_at,
        deadline_at=run.deadline_at,
        finished_at=run.send_at if is_final else None,
        result=run.reason,
    )


def create_manual_execution(
    schedule: Schedule, run: PlannedRun, *, kwargs_override: Mapping[str, Any] | None
) -> Execution:
    execution = _execution_row(schedule, run, manual=True)
    execution.kwargs_override = dict(kwargs_override) if kwargs_override is not None else None
    execution.save()
    return execution


def claim_pending_runs(now: datetime, *, owner: str, limit: int) -> list[Execution]:
    """Lease up to ``limit`` pending runs whose send time has come to ``owner`` and return them.

    A lease that ran out (its beat died between claiming and sending) is claimed again, by any beat.
    """
    claimable = Q(status=ExecutionStatus.PENDING, send_at__lte=now) & (
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    with transaction.atomic():
        ids = list(_lock(Execution.objects.filter(claimable)).order_by("send_at").values_list("id", flat=True)[:limit])
        if not ids:
            return []
        # The condition is evaluated again by the UPDATE itself: on SQLite, where nothing was locked, a row
        # another beat leased meanwhile is left out, and the owner column tells us which rows are ours.
        Execution.objects.filter(claimable, id__in=ids).update(
            lease_owner=owner, lease_until=now + timedelta(seconds=settings.LEASE_SECONDS)
        )
    return list(
        Execution.objects.filter(id__in=ids, lease_owner=owner, status=ExecutionStatus.PENDING)
        .select_related("schedule")
        .only(*_SEND_FIELDS)
        .order_by("send_at")
    )


def release_runs(execution_ids: Iterable[int], *, retry_at: datetime) -> None:
    """Give back runs that could not be sent; any beat may try again from ``retry_at``."""
    Execution.objects.filter(id__in=list(execution_ids), status=ExecutionStatus.PENDING).update(
        lease_owner="", lease_until=retry_at
    )


def next_work_at(now: datetime) -> datetime | None:
    """The earliest moment something is due: a schedule's fire time or a pending run's send time."""
    next_fire = Schedule.objects.filter(paused=False).aggregate(at=Min("next_fire_at"))["at"]
    next_send = (
        Execution.objects.filter(status=ExecutionStatus.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .aggregate(at=Min("send_at"))["at"]
    )
    candidates = [moment for moment in (next_fire, next_send) if moment is not None]
    return min(candidates) if candidates else None
