"""How the admin's schedule and execution lists hold up with many rows (issue #3: "fast with 100,000 schedules").

    BEAT_STORE_DATABASE=postgres .venv/bin/python -m bench.admin_changelist --schedules 100000 --executions 200000

Creates (and afterwards drops) the PostgreSQL database ``bench_admin``, fills it with bulk inserts, then times
each admin page with Django's test client (median of 5 requests after one warm-up) and counts its queries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta

DATABASE = "bench_admin"
PAGES = [
    ("schedule list", "/admin/beat_store/schedule/"),
    ("schedule list, page 500", "/admin/beat_store/schedule/?p=500"),
    ("schedule search", "/admin/beat_store/schedule/?q=job-0099"),
    ("schedules whose last run failed", "/admin/beat_store/schedule/?last_run=failed"),
    ("paused schedules", "/admin/beat_store/schedule/?state=paused"),
    ("schedule page (chart, history, preview)", "/admin/beat_store/schedule/{pk}/change/"),
    ("execution list", "/admin/beat_store/execution/"),
    ("failed executions", "/admin/beat_store/execution/?status__exact=failed"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--executions", type=int, default=200_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    options = parser.parse_args()
    os.environ["BEAT_STORE_DATABASE"] = "postgres"
    os.environ["BEAT_STORE_PG_NAME"] = DATABASE
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    _recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    schedule_pk = _seed(options.schedules, options.executions)
    try:
        _measure(schedule_pk, options.schedules, options.executions)
    finally:
        from django.db import connections

        connections.close_all()
        if not options.keep:
            _drop_database()
    return 0


def _admin_connection():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True)


def _recreate_database() -> None:
    with _admin_connection() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


def _drop_database() -> None:
    with _admin_connection() as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _seed(schedule_count: int, execution_count: int) -> int:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from beat_store.enums import ExecutionStatus
    from beat_store.models import Execution, Schedule

    started = time.perf_counter()
    now = timezone.now()
    statuses = [ExecutionStatus.SUCCEEDED] * 8 + [ExecutionStatus.FAILED, ExecutionStatus.MISSED]
    schedules = [
        Schedule(
            name=f"job-{number:06d}",
            task=f"proj.tasks.task_{number % 50}",
            trigger={"type": "cron", "expression": "*/5 * * * *"}
            if number % 10
            else {"type": "interval", "seconds": 60},
            trigger_kind="cron" if number % 10 else "interval",
            timezone="Europe/Paris",
            paused=number % 97 == 0,
            next_fire_at=now + timedelta(seconds=number % 300),
            created_at=now,
        )
        for number in range(schedule_count)
    ]
    Schedule.objects.bulk_create(schedules, batch_size=5000)
    ids = list(Schedule.objects.order_by("id").values_list("id", flat=True))
    executions = []
    for number in range(execution_count):
        fire_time = now - timedelta(minutes=5 * (number // len(ids) + 1))
        schedule_id = ids[number % len(ids)]
        executions.append(
            Execution(
                schedule_id=schedule_id,
                schedule_name=f"job-{number % len(ids):06d}",
                task="proj.tasks.task",
                fire_time=fire_time,
                send_at=fire_time,
                sent_at=fire_time,
                started_at=fire_time + timedelta(seconds=1),
                finished_at=fire_time + timedelta(seconds=3),
                task_id=f"{schedule_id}-{number}",
                status=statuses[number % len(statuses)],
            )
        )
        if len(executions) == 10_000:
            Execution.objects.bulk_create(executions)
            executions = []
    Execution.objects.bulk_create(executions)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    User.objects.create_superuser("bench", "bench@example.com", "bench")
    print(
        f"seeded {schedule_count} schedules and {execution_count} executions in {time.perf_counter() - started:.1f} s"
    )
    return ids[len(ids) // 2]


def _measure(schedule_pk: int, schedule_count: int, execution_count: int) -> None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.login(username="bench", password="bench")
    print(f"\n| page ({schedule_count:,} schedules, {execution_count:,} executions) | median ms | queries |")
    print("|---|---:|---:|")
    for label, url in PAGES:
        url = url.format(pk=schedule_pk)
        client.get(url)
        timings = []
        for _ in range(5):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
        print(f"| {label} | {statistics.median(timings):.0f} | {len(queries)} |")


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    sys.exit(main())
