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

import json
import logging
import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import DateTimeField, Field, Min, Model, Q, QuerySet
from django.utils import timezone

from beat_store import headers
from beat_store.conf import settings
from beat_store.enums import CoalescePolicy, ExecutionStatus
from beat_store.models import Execution, Schedule
from beat_store.planning import Plan, PlannedRun, TimingPolicy, plan_runs
from beat_store.runs import RecordedRun

logger = logging.getLogger(__name__)

#: What sending a run reads, of the run and of its schedule.
_SEND_FIELDS = (
    "schedule_name",
    "manual",
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
    "schedule__paused",
)

#: Columns ``plan_due_schedules`` writes back to each claimed schedule.
_ADVANCED_FIELDS = ["next_fire_at", "last_fire_at", "finished_at", "paused", "last_error"]


@dataclass(frozen=True)
class TickSummary:
    claimed: int
    recorded: int
    #: Runs due now, recorded already leased to the planning beat, with their schedule: send them next.
    ready: list[RecordedRun] = field(default_factory=list)
    #: Runs planned ahead and held by the planning beat until shortly after their send time
    #: (``HOLD_PAST_SEND_TIME``): it sends them itself then, after ``confirm_held_runs``.
    held: list[RecordedRun] = field(default_factory=list)


#: How long past its send time a run planned ahead stays held by the beat that planned it, in seconds (capped by
#: the lease). Within it, that beat sends the run without claiming it; after it, any beat may, so a planner that
#: died before the fire time delays its runs by this much, not by a whole lease.
HOLD_PAST_SEND_TIME = 5.0


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


def plan_due_schedules(
    now: datetime,
    *,
    limit: int,
    rng: random.Random,
    owner: str | None = None,
    ahead: float = 0.0,
    hold: int = 0,
) -> TickSummary:
    """Claim up to ``limit`` due schedules, record their runs and advance them, in one transaction.

    With an ``owner``, the runs to send at once are recorded leased to it and marked as being published, and
    come back in ``ready``: the beat that planned them sends them without reading them again. A beat that dies
    before sending leaves them *in doubt*, to be recovered like any other run whose publication was cut short.

    With ``ahead`` seconds (``BEAT_STORE_PLAN_AHEAD``), a schedule whose next fire time comes within that window
    is planned now, as of its fire time: its run is recorded ``pending`` with its send time still to come, and
    any beat claims and sends it then. So in a herd the planning is done before the fire time and only sending
    is left at it. A schedule whose run would be ``skipped`` (max instances) is left to be decided at its fire
    time, when the runs holding its slots may have finished. With an ``owner`` and ``hold``, up to ``hold`` of
    those runs are recorded held by the owner (see ``HOLD_PAST_SEND_TIME``) and come back in ``held``.
    """
    with transaction.atomic():
        horizon = now + timedelta(seconds=ahead)
        schedules = list(_lock(Schedule.objects.due(horizon)).order_by("next_fire_at")[:limit])
        if not schedules:
            return TickSummary(claimed=0, recorded=0)
        open_counts = _open_execution_counts(s.pk for s in schedules)
        executions: list[RecordedRun] = []
        for schedule in schedules:
            assert schedule.next_fire_at is not None
            as_of = max(now, schedule.next_fire_at)  # a schedule planned ahead is planned as of its fire time
            plan = _plan_one(schedule, now=as_of, open_executions=open_counts.get(schedule.pk, 0), rng=rng)
            if plan is None or (as_of > now and any(run.status != ExecutionStatus.PENDING for run in plan.runs)):
                continue  # paused for a trigger error (written below), or left for its fire time
            executions.extend(_execution_rows(schedule, plan.runs))
            _advance(schedule, plan, now=as_of)
        ready = _lease_ready(executions, owner=owner, now=now) if owner else []
        held = _hold_ahead(executions, owner=owner, now=now, limit=hold) if owner and hold > 0 else []
        # Should a row be planned twice (a form saved with a stale next_fire_at), the unique (schedule,
        # fire_time) constraint keeps the first record and the repeat is not recorded, nor sent.
        recorded = _insert_executions(executions)
        _write_advances(schedules)
    return TickSummary(
        claimed=len(schedules),
        recorded=len(recorded),
        ready=[run for run in ready if run.pk is not None],
        held=[run for run in held if run.pk is not None],
    )


def _lease_ready(executions: list[RecordedRun], *, owner: str, now: datetime) -> list[RecordedRun]:
    """Lease to ``owner`` the runs due at ``now`` (the tick's planning time).

    The lease counts from the clock, not from ``now``: in a long herd the tick started long ago, and a lease
    already run out when written would let another beat send the same runs.
    """
    leased_at = timezone.now()
    lease_until = leased_at + timedelta(seconds=settings.LEASE_SECONDS)
    ready = [run for run in executions if run.status == ExecutionStatus.PENDING and run.send_at <= now]
    for run in ready:
        run.lease_owner, run.lease_until, run.publish_attempted_at = owner, lease_until, leased_at
    return ready


def _hold_ahead(executions: list[RecordedRun], *, owner: str, now: datetime, limit: int) -> list[RecordedRun]:
    """Hold for ``owner`` up to ``limit`` pending runs whose send time is still to come."""
    hold_for = timedelta(seconds=min(HOLD_PAST_SEND_TIME, settings.LEASE_SECONDS))
    held = [run for run in executions if run.status == ExecutionStatus.PENDING and run.send_at > now][:limit]
    for run in held:
        run.lease_owner, run.lease_until = owner, run.send_at + hold_for
    return held


def confirm_held_runs(runs: Sequence[RecordedRun], *, owner: str) -> list[RecordedRun]:
    """Mark as being published those of ``owner``'s held runs still held, and return them, refreshed.

    A run is gone when a save withdrew it (``executions.withdraw_planned_ahead``), or another beat took it after
    its hold ran out. Each row is decided under its lock, so a save and this beat never both win. The schedule's
    current ``paused`` flag, and whether it still exists, are read back, so such runs are closed, not sent.
    """
    if not runs:
        return []
    stamp = timezone.now()
    ids = [run.pk for run in runs if run.pk is not None]
    Execution.objects.filter(
        id__in=ids, status=ExecutionStatus.PENDING, lease_owner=owner, publish_attempted_at__isnull=True
    ).update(publish_attempted_at=stamp, lease_until=stamp + timedelta(seconds=settings.LEASE_SECONDS))
    confirmed = {
        execution_id: (schedule_id, paused)
        for execution_id, schedule_id, paused in Execution.objects.filter(
            id__in=ids, lease_owner=owner, publish_attempted_at=stamp
        ).values_list("id", "schedule_id", "schedule__paused")
    }
    still_held = []
    for run in runs:
        if run.pk in confirmed:
            run.schedule_id, run.schedule.paused = confirmed[run.pk]
            run.publish_attempted_at = stamp
            still_held.append(run)
    return still_held


#: Columns ``_insert_executions`` writes from each run; the others get the same value for every row.
_INSERTED_FIELDS = (
    "schedule",
    "schedule_name",
    "task",
    "fire_time",
    "jitter",
    "task_id",
    "status",
    "send_at",
    "deadline_at",
    "finished_at",
    "result",
    "publish_attempted_at",
    "lease_owner",
    "lease_until",
)
#: Columns written with one value for all rows: (field name, value).
_CONSTANT_FIELDS = (("manual", False), ("exception", ""), ("traceback", ""), ("worker", ""))


def _insert_executions(executions: list[RecordedRun]) -> list[RecordedRun]:
    """Insert scheduled runs, skipping any (schedule, fire time) already recorded; set and return the new ones.

    ``bulk_create(ignore_conflicts=True)`` would not return the new ids, and the beat needs them to send the
    runs without reading them back. PostgreSQL gets one ``INSERT ... SELECT FROM json_to_recordset(...)``
    (see ``_as_json_records``); SQLite one multi-row ``INSERT`` per batch.
    """
    if not executions:
        return []
    stamp = timezone.now()
    meta = Execution._meta
    by_name = {field.name: field for field in meta.concrete_fields}
    fields = [by_name[name] for name in _INSERTED_FIELDS]
    constant_columns = [str(by_name[name].column) for name, _ in _CONSTANT_FIELDS] + ["created_at", "updated_at"]
    constant_values: list[Any] = [value for _, value in _CONSTANT_FIELDS] + [stamp, stamp]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in [*(str(f.column) for f in fields), *constant_columns])
    insert = f"INSERT INTO {quote(meta.db_table)} ({columns})"
    returning = f"ON CONFLICT DO NOTHING RETURNING {quote('task_id')}, {quote('id')}"
    new_ids: dict[str, int] = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            record = ", ".join(f"{quote(str(f.column))} {f.db_type(connection)}" for f in fields)
            selected = ", ".join(["v.*"] + ["%s"] * len(constant_columns))
            cursor.execute(
                f"{insert} SELECT {selected} FROM json_to_recordset(%s::json) AS v({record}) {returning}",
                [*constant_values, _as_json_records(executions, fields)],
            )
            new_ids.update(cursor.fetchall())
        else:
            prepared_constants = constant_values[:-2] + [connection.ops.adapt_datetimefield_value(stamp)] * 2
            rows = [
                [f.get_db_prep_save(getattr(run, f.attname), connection) for f in fields] + prepared_constants
                for run in executions
            ]
            batch = max(1, connection.ops.bulk_batch_size(columns.split(", "), executions))
            row_sql = "(" + ", ".join(["%s"] * (len(fields) + len(constant_columns))) + ")"
            # SQLite before 3.35 has no RETURNING: the new rows are then found by their creation stamp.
            can_return = connection.features.can_return_rows_from_bulk_insert
            conflict = returning if can_return else "ON CONFLICT DO NOTHING"
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                cursor.execute(
                    f"{insert} VALUES {', '.join([row_sql] * len(chunk))} {conflict}",
                    [value for row in chunk for value in row],
                )
                if can_return:
                    new_ids.update(cursor.fetchall())
                else:
                    task_ids = [run.task_id for run in executions[start : start + batch]]
                    inserted = Execution.objects.filter(task_id__in=task_ids, created_at=stamp)
                    new_ids.update(inserted.values_list("task_id", "id"))
    for run in executions:
        run.pk = new_ids.get(run.task_id)
    return [run for run in executions if run.pk is not None]


def _write_advances(schedules: list[Schedule]) -> None:
    """Write the advanced state of many schedules in one statement per batch.

    ``QuerySet.bulk_update`` builds a CASE expression per field and row in Python, which dominated a herd's
    planning time. PostgreSQL gets one ``UPDATE ... FROM json_to_recordset(...)``; other databases one
    ``executemany``.
    """
    if not schedules:
        return
    meta = Schedule._meta
    fields = [field for field in meta.concrete_fields if field.name in _ADVANCED_FIELDS]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(str(meta.pk.column))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            record = ", ".join(f"{quote(str(f.column))} {f.db_type(connection)}" for f in [meta.pk, *fields])
            assignments = ", ".join(f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in fields)
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM json_to_recordset(%s::json) AS v({record}) "
                f"WHERE {table}.{pk} = v.{pk}",
                [_as_json_records(schedules, [meta.pk, *fields])],
            )
        else:
            rows = [
                [field.get_db_prep_save(getattr(schedule, field.attname), connection) for field in fields]
                + [schedule.pk]
                for schedule in schedules
            ]
            assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
            cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", rows)


def _as_json_records(objects: Sequence[Model | RecordedRun], fields: Sequence[Field[Any, Any]]) -> str:
    """Rows as one JSON document for PostgreSQL's ``json_to_recordset``.

    A few hundred rows bound as scalars or arrays are adapted value by value in Python by psycopg's client-side
    binding (what Django uses); one JSON text is encoded in C and parsed by the server, several times faster.
    The values are the model attributes themselves: ints, strings, bools, floats, None and aware datetimes
    (ISO 8601 with offset, which PostgreSQL reads back exactly).
    """
    plain = [(str(field.column), field.attname) for field in fields if not isinstance(field, DateTimeField)]
    dated = [(str(field.column), field.attname) for field in fields if isinstance(field, DateTimeField)]
    records = []
    for obj in objects:
        record = {column: getattr(obj, attname) for column, attname in plain}
        # Converted here rather than by a json `default` hook: the hook is a Python call per value, from C.
        for column, attname in dated:
            value = getattr(obj, attname)
            record[column] = None if value is None else value.isoformat()
        records.append(record)
    return json.dumps(records)


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
    """Open runs per schedule. Plain SQL: the ORM prepares an ``IN`` list value by value, which cost a herd
    more than the query itself; these ids are ints read from the database a moment ago."""
    ids = list(schedule_ids)
    if not ids:
        return {}
    meta, quote = Execution._meta, connection.ops.quote_name
    by_name = {field.name: field for field in meta.concrete_fields}
    schedule_column, status_column = (quote(str(by_name[name].column)) for name in ("schedule", "status"))
    statuses = ExecutionStatus.open_values()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {schedule_column}, COUNT(*) FROM {quote(meta.db_table)} "
            f"WHERE {schedule_column} IN ({', '.join(['%s'] * len(ids))}) "
            f"AND {status_column} IN ({', '.join(['%s'] * len(statuses))}) GROUP BY {schedule_column}",
            [*ids, *(str(status) for status in statuses)],
        )
        return dict(cursor.fetchall())


def _execution_rows(schedule: Schedule, runs: Iterable[PlannedRun]) -> list[RecordedRun]:
    return [
        RecordedRun(
            **_run_fields(schedule, run), task_id=headers.task_id_for(schedule.pk, schedule.name, run.fire_time)
        )
        for run in runs
    ]


def create_manual_execution(
    schedule: Schedule, run: PlannedRun, *, kwargs_override: Mapping[str, Any] | None
) -> Execution:
    return Execution.objects.create(
        **_run_fields(schedule, run),
        manual=True,
        task_id=str(uuid.uuid4()),
        kwargs_override=dict(kwargs_override) if kwargs_override is not None else None,
    )


def _run_fields(schedule: Schedule, run: PlannedRun) -> dict[str, Any]:
    """The execution columns a decided run fills in, whether recorded by a tick or started by "run now"."""
    return {
        "schedule": schedule,
        "schedule_name": schedule.name,
        "task": schedule.task,
        "fire_time": run.fire_time,
        "jitter": run.jitter,
        "status": run.status,
        "send_at": run.send_at,
        "deadline_at": run.deadline_at,
        "finished_at": None if run.status == ExecutionStatus.PENDING else run.send_at,
        "result": run.reason,
    }


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


def release_runs(execution_ids: Iterable[int], *, retry_at: datetime, owner: str | None = None) -> None:
    """Give back runs that could not be sent (those still leased to ``owner``, when given); any beat may try
    again from ``retry_at``."""
    runs = Execution.objects.filter(id__in=list(execution_ids), status=ExecutionStatus.PENDING)
    if owner is not None:
        runs = runs.filter(lease_owner=owner)
    runs.update(lease_owner="", lease_until=retry_at)


def next_work_at(now: datetime, *, ahead: float = 0.0) -> datetime | None:
    """The earliest moment something is due: a schedule's fire time (less ``ahead``, when runs are planned
    ahead) or a pending run's send time."""
    next_fire = Schedule.objects.filter(paused=False).aggregate(at=Min("next_fire_at"))["at"]
    if next_fire is not None:
        next_fire -= timedelta(seconds=ahead)
    next_send = (
        Execution.objects.filter(status=ExecutionStatus.PENDING)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .aggregate(at=Min("send_at"))["at"]
    )
    candidates = [moment for moment in (next_fire, next_send) if moment is not None]
    return min(candidates) if candidates else None
