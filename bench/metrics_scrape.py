"""What one scrape of beat_store's metrics costs on PostgreSQL, with a large workload (issue #10). Never part of
the test suite.

    .venv/bin/python -m bench.metrics_scrape --schedules 100000 --minutes 20 --scrapes 5

Seeds ``--schedules`` every-minute schedules and, for each, one finished run per minute over the last
``--minutes`` minutes (so ``schedules x minutes`` runs, most of them inside ``BEAT_STORE_METRICS_WINDOW``), plus
an old history of the same size, with one INSERT ... SELECT generate_series in ``bench_beat_store``; then times
``beat_store.metrics.exposition()`` ``--scrapes`` times and prints each wall time, the body size and the number
of series; with ``--series-for '*'``, it then does the same with per-schedule series for as many schedules as
they are allowed for.
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

from django.conf import settings as django_settings  # noqa: E402
from django.db import connection  # noqa: E402

from beat_store.conf import settings  # noqa: E402
from beat_store.metrics import exposition  # noqa: E402
from bench import seed  # noqa: E402
from bench.database import create_database  # noqa: E402

TABLE = "beat_store_execution"


def insert_runs(schedules: int, minutes: int, *, days_ago: float) -> None:
    """One succeeded run per schedule per minute, ``minutes`` minutes of them ending ``days_ago`` days ago."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM beat_store_schedule")
        (first_id,) = cursor.fetchone()
        cursor.execute(
            f"""
            INSERT INTO {TABLE} (schedule_id, schedule_name, task, fire_time, jitter, send_at, task_id, status,
                manual, forced, worker, retries, result, exception, traceback, lease_owner, sent_at, started_at,
                finished_at, created_at, updated_at)
            SELECT %(first)s + (g %% %(n)s), 'w-' || (g %% %(n)s), 'bench.noop', t, 0, t,
                   md5(g::text || %(days)s::text), 'succeeded', false, false, 'w@h', 0, '"ok"', '', '', '',
                   t, t + (g %% 7) * interval '100 milliseconds', t + interval '1 second', t, t
            FROM generate_series(1, %(rows)s) AS g,
                 LATERAL (SELECT now() - %(days)s * interval '1 day' - (g / %(n)s) * interval '1 minute' AS t) AS f
            """,
            {"first": first_id, "n": schedules, "rows": schedules * minutes, "days": days_ago},
        )
        cursor.execute(f"ANALYZE {TABLE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--schedules", type=int, default=100_000)
    parser.add_argument("--minutes", type=int, default=20)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument(
        "--series-for",
        action="append",
        default=[],
        metavar="PATTERN",
        help="BEAT_STORE_METRICS_SCHEDULES entry (repeatable): per-schedule series for the names it matches",
    )
    options = parser.parse_args()
    create_database()
    seed.seed("beat_store", options.schedules, now=datetime.now(UTC))
    started = time.monotonic()
    insert_runs(options.schedules, options.minutes, days_ago=0)
    insert_runs(options.schedules, options.minutes, days_ago=10)
    rows = options.schedules * options.minutes * 2
    print(f"seeded {options.schedules:,} schedules and {rows:,} runs in {time.monotonic() - started:.0f} s")
    print(f"BEAT_STORE_METRICS_WINDOW = {settings.METRICS_WINDOW:g} s")
    configurations = [[], options.series_for] if options.series_for else [[]]
    for patterns in configurations:
        django_settings.BEAT_STORE_METRICS_SCHEDULES = patterns
        time_scrapes(options.scrapes, label=f"METRICS_SCHEDULES={patterns}")


def time_scrapes(scrapes: int, *, label: str) -> None:
    took = []
    for _ in range(scrapes):
        began = time.monotonic()
        body, _ = exposition()
        took.append(time.monotonic() - began)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    print(
        f"{label}: median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms over "
        f"{len(took)} scrapes; body {len(body):,} bytes, {series} series"
    )


if __name__ == "__main__":
    main()
