"""Seed the peers' benchmark workload for each scheduler, and arm it so that every schedule is due at one boundary.

Workload: ``n`` schedules named ``w-000000``..., 90 % cron ``* * * * *`` and 10 % 60 s interval (every tenth),
task ``bench.noop`` with the schedule's name as its only argument (so a message names its schedule for every
peer). Two extra schedules route to their own queues so they never mix with the herd in the ``celery`` list:
``canary`` (queue ``canary``, due at once: its first message marks the end of start-up) and ``edit`` (queue
``edit``, yearly until the harness edits it to every second).

``seed_*`` writes the rows in bulk (slow part, done once per N); ``arm_*`` moves every workload schedule to be
due at ``boundary`` and recreates the two extra schedules (fast, done before every run).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction

WORKLOAD_PREFIX = "w-"
CANARY = "canary"
EDIT = "edit"
TASK = "bench.noop"
INTERVAL_EVERY = 10  # one schedule in ten is a 60 s interval, the rest are `* * * * *` crons
BATCH = 5000
#: No worker runs, so beat_store's runs stay `sent` for ever: a max_instances of 1 (the default) would skip
#: every run after the first. The peers have no such limit; lift it to compare like with like.
NO_INSTANCE_LIMIT = 1_000_000


def workload_name(index: int) -> str:
    return f"{WORKLOAD_PREFIX}{index:06d}"


def is_interval(index: int) -> bool:
    return index % INTERVAL_EVERY == 0


def _truncate(*tables: str) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":  # one table per TRUNCATE, foreign keys checked only after
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for table in tables:
                cursor.execute(f"TRUNCATE {table}")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
            return
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def workload_count(kind: str) -> int:
    """How many workload schedules ``kind`` has stored now (so a run can reuse an earlier seed)."""
    if kind == "beat_store":
        from beat_store.models import Schedule

        return Schedule.objects.filter(name__startswith=WORKLOAD_PREFIX).count()
    if kind == "dcb":
        from django_celery_beat.models import PeriodicTask

        return PeriodicTask.objects.filter(name__startswith=WORKLOAD_PREFIX).count()
    return -1  # redbeat lives in Redis and is rewritten by every arm


# --- beat_store ---------------------------------------------------------------------------------------------


def seed_beat_store(n: int, *, now: datetime) -> None:
    from beat_store.models import BeatHeartbeat, Execution, Schedule

    _truncate(Execution._meta.db_table, BeatHeartbeat._meta.db_table, Schedule._meta.db_table)
    cron = {"type": "cron", "expression": "* * * * *"}
    interval = {"type": "interval", "seconds": 60}
    rows = (
        Schedule(
            name=workload_name(i),
            task=TASK,
            args=[workload_name(i)],
            trigger=interval if is_interval(i) else cron,
            trigger_kind="interval" if is_interval(i) else "cron",
            timezone="UTC",
            max_instances=NO_INSTANCE_LIMIT,
            created_at=now,
        )
        for i in range(n)
    )
    _bulk_create(Schedule, rows)


def arm_beat_store(*, boundary: datetime, now: datetime, keep_history: bool = False) -> None:
    from beat_store.models import BeatHeartbeat, Execution, Schedule

    if keep_history:
        # The runs of earlier bench runs go; an old history seeded by bench.retention (40+ days) stays.
        Execution.objects.filter(fire_time__gt=now - timedelta(days=1)).delete()
        _truncate(BeatHeartbeat._meta.db_table)
    else:
        _truncate(Execution._meta.db_table, BeatHeartbeat._meta.db_table)
    with transaction.atomic():
        # next_fire_at written directly, as save() would compute it: the first fire time at or after start_at.
        Schedule.objects.filter(name__startswith=WORKLOAD_PREFIX).update(
            next_fire_at=boundary,
            start_at=boundary,
            last_fire_at=None,
            finished_at=None,
            paused=False,
            max_instances=NO_INSTANCE_LIMIT,
            updated_at=now,  # written knowingly: migration 0007's trigger leaves next_fire_at as set here
        )
        Schedule.objects.filter(name__in=[CANARY, EDIT]).delete()
    Schedule(
        name=CANARY,
        task=TASK,
        args=[CANARY],
        trigger={"type": "interval", "seconds": 3600},
        queue=CANARY,
        timezone="UTC",
    ).save()
    Schedule(
        name=EDIT,
        task=TASK,
        args=[EDIT],
        trigger={"type": "cron", "expression": "0 0 1 1 *"},
        queue=EDIT,
        timezone="UTC",
    ).save()


def edit_beat_store() -> None:
    from beat_store.models import Schedule

    schedule = Schedule.objects.get(name=EDIT)
    schedule.trigger = {"type": "interval", "seconds": 1}
    schedule.save()


# --- django-celery-beat -------------------------------------------------------------------------------------


def seed_dcb(n: int, *, now: datetime) -> None:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

    _truncate(
        PeriodicTask._meta.db_table,
        PeriodicTasks._meta.db_table,
        CrontabSchedule._meta.db_table,
        IntervalSchedule._meta.db_table,
    )
    every_minute = CrontabSchedule.objects.create(
        minute="*", hour="*", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    every_60s = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    rows = (
        PeriodicTask(
            name=workload_name(i),
            task=TASK,
            args=json.dumps([workload_name(i)]),
            interval=every_60s if is_interval(i) else None,
            crontab=None if is_interval(i) else every_minute,
            enabled=True,
        )
        for i in range(n)
    )
    _bulk_create(PeriodicTask, rows)


def arm_dcb(*, boundary: datetime, now: datetime) -> None:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

    with transaction.atomic():
        # last run one period before the boundary: both kinds are next due exactly at the boundary.
        PeriodicTask.objects.filter(name__startswith=WORKLOAD_PREFIX).update(
            last_run_at=boundary - timedelta(seconds=60), total_run_count=0
        )
        PeriodicTask.objects.filter(name__in=[CANARY, EDIT]).delete()
    hourly, _ = IntervalSchedule.objects.get_or_create(every=3600, period=IntervalSchedule.SECONDS)
    yearly, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="0", day_of_week="*", day_of_month="1", month_of_year="1", timezone="UTC"
    )
    PeriodicTask.objects.create(
        name=CANARY,
        task=TASK,
        args=json.dumps([CANARY]),
        interval=hourly,
        queue=CANARY,
        last_run_at=now - timedelta(seconds=3601),
    )
    PeriodicTask.objects.create(
        name=EDIT, task=TASK, args=json.dumps([EDIT]), crontab=yearly, queue=EDIT, last_run_at=now
    )
    PeriodicTasks.update_changed()


def edit_dcb() -> None:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.get(name=EDIT)
    task.crontab = None
    task.interval = every_second
    task.save()  # its post_save receiver bumps PeriodicTasks, the change marker the scheduler polls


# --- celery-redbeat -----------------------------------------------------------------------------------------


def seed_redbeat(n: int, *, now: datetime) -> None:
    """Nothing to do: redbeat's schedule lives in Redis, which every run flushes; ``arm_redbeat`` writes it."""


def arm_redbeat(*, boundary: datetime, now: datetime, n: int) -> None:
    from celery.schedules import crontab, schedule
    from redbeat.decoder import RedBeatJSONEncoder
    from redbeat.schedulers import RedBeatSchedulerEntry, ensure_conf, get_redis

    from bench.celery_app import app

    every_minute = crontab()
    every_60s = schedule(run_every=timedelta(seconds=60))
    meta = json.dumps({"last_run_at": boundary - timedelta(seconds=60)}, cls=RedBeatJSONEncoder)
    score = boundary.timestamp()
    ensure_conf(app)
    schedule_key = app.redbeat_conf.schedule_key
    client = get_redis(app)
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        name = workload_name(i)
        key = RedBeatSchedulerEntry.generate_key(app, name)
        definition = {
            "name": name,
            "task": TASK,
            "args": [name],
            "kwargs": {},
            "options": {},
            "schedule": every_60s if is_interval(i) else every_minute,
            "enabled": True,
        }
        # The same three writes as RedBeatSchedulerEntry.save(), pipelined: one round trip per batch.
        pipe.hset(key, "definition", json.dumps(definition, cls=RedBeatJSONEncoder))
        pipe.hset(key, "meta", meta)
        pipe.zadd(schedule_key, {key: score})
        if i % BATCH == BATCH - 1:
            pipe.execute()
    pipe.execute()
    canary = RedBeatSchedulerEntry(
        name=CANARY,
        task=TASK,
        schedule=schedule(run_every=timedelta(seconds=3600)),
        args=[CANARY],
        options={"queue": CANARY},
        app=app,
    )
    canary.last_run_at = now - timedelta(seconds=3601)
    canary.save()
    edit = RedBeatSchedulerEntry(
        name=EDIT,
        task=TASK,
        schedule=crontab(minute="0", hour="0", day_of_month="1", month_of_year="1"),
        args=[EDIT],
        options={"queue": EDIT},
        app=app,
    )
    edit.last_run_at = now
    edit.save()


def edit_redbeat() -> None:
    from celery.schedules import schedule
    from redbeat.schedulers import RedBeatSchedulerEntry

    from bench.celery_app import app

    entry = RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, EDIT), app=app)
    entry.schedule = schedule(run_every=timedelta(seconds=1))
    entry.save()


# --- dispatch by scheduler kind -----------------------------------------------------------------------------


def seed(kind: str, n: int, *, now: datetime) -> None:
    {"beat_store": seed_beat_store, "dcb": seed_dcb, "redbeat": seed_redbeat}[kind](n, now=now)


def arm(kind: str, n: int, *, boundary: datetime, now: datetime, keep_history: bool = False) -> None:
    """Make every workload schedule due at ``boundary``; ``keep_history`` (beat_store only) keeps old runs."""
    if kind == "redbeat":
        arm_redbeat(boundary=boundary, now=now, n=n)
    elif kind == "dcb":
        arm_dcb(boundary=boundary, now=now)
    else:
        arm_beat_store(boundary=boundary, now=now, keep_history=keep_history)
    if kind == "redbeat":
        return
    # Fresh statistics, as autovacuum keeps them on a live database: a database just created and seeded has
    # none, and PostgreSQL then plans the beat's queries blind (a 10,000 herd took 9.6 s instead of 6).
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(f"ANALYZE TABLE {', '.join(connection.introspection.table_names(cursor))}")
            cursor.fetchall()
        else:
            cursor.execute("ANALYZE")


EDITS: dict[str, Callable[[], None]] = {"beat_store": edit_beat_store, "dcb": edit_dcb, "redbeat": edit_redbeat}


def _bulk_create(model: Any, rows: Any) -> None:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            model.objects.bulk_create(batch)
            batch = []
    if batch:
        model.objects.bulk_create(batch)
