"""Retention's cost on PostgreSQL: how fast beat's batches delete an expired history, and what the table
weighs before and after (issue #14). Never part of the test suite.

    .venv/bin/python -m bench.retention --schedules 10000 --expired 10000000 --seconds 120

Seeds ``--schedules`` workload schedules and ``--expired`` finished runs 40-70 days old spread over them (one
INSERT ... SELECT generate_series, in the bench database ``bench_beat_store``), then calls
``beat_store.retention.prune_batch`` as beat does (``BEAT_STORE_PRUNE_BATCH`` rows a call, back to back) for
``--seconds`` or until nothing is left (for each ``--batch`` size given), and prints rows/s, the time per batch,
and the table and index sizes before, after, and after ``VACUUM`` (unless ``--no-vacuum``, which leaves the
rest for ``bench.run --keep-history --prune-alongside``). The 50 newest runs of each schedule are kept
(BEAT_STORE_KEEP_LAST_RUNS).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from beat_store import retention  # noqa: E402
from beat_store.conf import settings  # noqa: E402
from bench import seed  # noqa: E402
from bench.database import create_database  # noqa: E402

TABLE = "beat_store_execution"


def insert_expired(count: int, schedules: int) -> None:
    """``count`` succeeded runs, 40 to 70 days old, round-robin over the workload schedules."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM beat_store_schedule")
        (first_id,) = cursor.fetchone()
        cursor.execute(
            f"""
            INSERT INTO {TABLE} (schedule_id, schedule_name, task, fire_time, jitter, send_at, task_id, status,
                manual, forced, worker, retries, result, exception, traceback, lease_owner, sent_at, started_at,
                finished_at, created_at, updated_at)
            SELECT %s + (g %% %s), 'w-' || (g %% %s), 'bench.noop',
                   now() - interval '40 days' - (g %% 2592000) * interval '1 second', 0,
                   now() - interval '40 days', md5(g::text), 'succeeded', false, false, 'w@h', 0, '"ok"', '', '', '',
                   now() - interval '40 days', now() - interval '40 days', now() - interval '40 days',
                   now() - interval '40 days', now() - interval '40 days'
            FROM generate_series(1, %s) AS g
            """,
            [first_id, schedules, schedules, count],
        )
        cursor.execute(f"ANALYZE {TABLE}")


def sizes() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*), pg_relation_size('{TABLE}'), pg_indexes_size('{TABLE}') FROM {TABLE}")
        rows, table, indexes = cursor.fetchone()
    return {"rows": rows, "table_mib": table // 2**20, "indexes_mib": indexes // 2**20}


def vacuum(full: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {'FULL ' if full else ''}ANALYZE {TABLE}")


def prune_for(seconds: float, *, batch: int) -> None:
    """Delete batches back to back for ``seconds`` (or until none is full); print rows/s and time per batch."""
    took: list[float] = []
    deleted = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.monotonic()
        count = retention.prune_batch(datetime.now(UTC), limit=batch)
        took.append(time.monotonic() - began)
        deleted += count
        if count < batch:
            break
    if not took:
        return
    print(
        f"deleted {deleted:,} rows in {len(took)} batches of up to {batch}: {deleted / sum(took):,.0f} rows/s "
        f"while deleting; per batch p50 {statistics.median(took) * 1000:.1f} ms, max {max(took) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--expired", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0, help="of pruning, per batch size")
    parser.add_argument(
        "--batch", type=int, action="append", help="rows per batch (repeatable; default BEAT_STORE_PRUNE_BATCH)"
    )
    parser.add_argument(
        "--no-vacuum", action="store_true", help="leave the rest for bench.run --keep-history, unvacuumed"
    )
    options = parser.parse_args()
    create_database()
    seed.seed("beat_store", options.schedules, now=datetime.now(UTC))
    started = time.monotonic()
    insert_expired(options.expired, options.schedules)
    print(f"seeded {options.expired:,} expired runs in {time.monotonic() - started:.0f} s")
    print("before:", sizes())

    for batch in options.batch or [settings.PRUNE_BATCH]:
        prune_for(options.seconds, batch=batch)
    print("after:", sizes())
    if options.no_vacuum:
        return
    vacuum(full=False)
    print("after VACUUM:", sizes())
    vacuum(full=True)
    print("after VACUUM FULL:", sizes())


if __name__ == "__main__":
    main()
