"""What one worker report costs, written inline or through beat_store's report writer (issue 12's diagnosis).

    BENCH_PG_NAME=bench_e2e python -m bench.report_latency --reports 200
    BENCH_PG_NAME=bench_e2e BENCH_CONN_MAX_AGE=none python -m bench.report_latency --reports 200

In one process, ``executions.mark_started`` for ``--reports`` runs in a row, once called directly (as an eager
task's report is) and once through ``report_writer.writer.submit`` (as a worker's receivers do: another thread,
its own database connection, the caller waiting for it with ``settle()``). Wall and client CPU per report. The
difference between the two showed that the writer thread reconnected for each report under Django's default
``CONN_MAX_AGE = 0`` (before #12's fix).
Truncates beat_store's execution table of the bench database (``bench_e2e`` unless ``BENCH_PG_NAME`` says otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_PG_NAME", "bench_e2e")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from beat_store import executions, report_writer  # noqa: E402
from beat_store.enums import ExecutionStatus  # noqa: E402
from beat_store.models import Execution  # noqa: E402
from bench import seed  # noqa: E402
from bench.database import create_database  # noqa: E402


def sent_runs(count: int) -> list[str]:
    """``count`` execution rows in status ``sent``; their task ids."""
    seed._truncate(Execution._meta.db_table)
    now = timezone.now()
    rows = [
        Execution(
            schedule_name=f"rl-{i:06d}",
            task=seed.TASK,
            fire_time=now,
            task_id=str(uuid.uuid4()),
            status=ExecutionStatus.SENT,
            send_at=now,
        )
        for i in range(count)
    ]
    Execution.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Execution._meta.db_table}")
    return [row.task_id for row in rows]


def per_report(task_ids: list[str], report: Callable[[str], object]) -> dict[str, float]:
    """Milliseconds of wall and of this process's CPU (all threads) per report."""
    cpu, wall = time.process_time(), time.perf_counter()
    for task_id in task_ids:
        report(task_id)
    return {
        "wall_ms": round((time.perf_counter() - wall) / len(task_ids) * 1000, 2),
        "client_cpu_ms": round((time.process_time() - cpu) / len(task_ids) * 1000, 2),
    }


def inline(task_id: str) -> None:
    executions.mark_started(task_id, worker="bench", at=timezone.now())


def through_writer(task_id: str) -> None:
    """Submitted, then waited for (``settle``): tasks no longer wait for their reports (#12), but this measures one
    report's trip through the writer, as a task waited for each before."""
    report_writer.writer.submit(executions.mark_started, task_id=task_id, worker="bench", at=timezone.now())
    report_writer.writer.settle()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report_latency", description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=200, help="reports of each kind")
    options = parser.parse_args(argv)
    create_database()
    task_ids = sent_runs(2 * options.reports)
    print(
        {
            "conn_max_age": connection.settings_dict.get("CONN_MAX_AGE"),
            "inline": per_report(task_ids[: options.reports], inline),
            "through_writer": per_report(task_ids[options.reports :], through_writer),
        },
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
