"""End to end with a worker (issue 12): a herd from beat to task start, and what beat_store's write-back costs.

    python -m bench.workers_e2e herd --schedulers beat_store,redbeat,dcb --n 10000
    python -m bench.workers_e2e write-back --m 20000 --rounds 2

``herd``: for each scheduler, N every-minute schedules (bench/seed.py) armed to be due at one minute boundary B,
one ``celery beat`` and one ``celery worker`` (prefork, ``--concurrency 8``, app ``bench.worker_app``) whose
no-op task records when it started in Redis. Lateness = task start - B, per schedule (its first run), p50, p99,
max; duplicates, misses, and when the last one started. For beat_store, whose worker writes back each run's
state, also the lateness of the execution table's ``started_at - fire_time``, and whether every run of the herd
ended ``succeeded`` there. The beat stops once every schedule has started, or ``--herd-timeout`` seconds after B
(django-celery-beat sends one message per tick: it does not finish a 10k herd in a minute); the worker then
drains what the beat had already published.

``herd --no-write-back`` runs the worker without beat_store's receivers, for beat_store's lateness without them.

``write-back``: M no-op messages carrying beat_store's headers, each with its execution row (status ``sent``),
are queued first; then a worker starts and consumes them. Throughput = M / (last run done - first run started),
from the runs' own records, so the worker's start-up is left out. Once with beat_store's receivers connected,
once without (``BENCH_WRITE_BACK=0``, see bench/worker_app.py), alternated ``--rounds`` times.

Diagnoses (bench/settings.py, never the default; recorded in the results and their file names):
``BENCH_PG_SYNCHRONOUS_COMMIT=off`` (commits do not wait for the WAL flush) and ``BENCH_CONN_MAX_AGE=none``
(persistent database connections instead of Django's default of 0).

Isolation: this module defaults to its own PostgreSQL database ``bench_e2e`` and Redis db 11
(``BENCH_PG_NAME``, ``BENCH_REDIS_URL``), which it creates, truncates and flushes; other benchmarks use others.
Every process it starts is stopped (SIGTERM to its process group, then SIGKILL), also when a run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("BENCH_PG_NAME", "bench_e2e")
os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")

import django

django.setup()

from django.db import connection  # noqa: E402

from bench import broker, processes, seed  # noqa: E402
from bench.database import create_database  # noqa: E402
from bench.run import LOGS, RESULTS, code_version, next_boundary, utc  # noqa: E402
from bench.worker_app import READY, RUNS  # noqa: E402

CONCURRENCY = 8
#: bench/settings.py's diagnosis switches, recorded with the results and in their file names: commits not waiting
#: for the WAL flush, persistent database connections.
DIAGNOSES = {"synchronous-commit": "BENCH_PG_SYNCHRONOUS_COMMIT", "conn-max-age": "BENCH_CONN_MAX_AGE"}
#: How long a worker may take to be ready, and to drain after its beat stopped (seconds).
WORKER_STARTUP_TIMEOUT = 60.0
DRAIN_TIMEOUT = 60.0
#: Grace for a worker's warm shutdown (running tasks finish, reports are flushed) before SIGKILL.
WORKER_STOP_GRACE = 30.0
READ_CHUNK = 10_000


def _diagnoses() -> dict[str, str]:
    """The diagnosis switches set for this run (none: the server's and Django's defaults)."""
    return {name: os.environ[variable] for name, variable in DIAGNOSES.items() if os.environ.get(variable)}


def _suffix() -> str:
    return "".join(f"-{name}-{value}" for name, value in _diagnoses().items())


# --- processes ----------------------------------------------------------------------------------------------


def start_worker(tag: str, *, write_back: bool) -> subprocess.Popen[bytes]:
    """One prefork worker of ``bench.worker_app`` on the herd queue only (the canary and edit queues stay put)."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="bench.settings",
        PYTHONPATH=str(processes.ROOT),
        BENCH_WRITE_BACK="1" if write_back else "0",
    )
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{tag}-worker.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.worker_app",
        "worker",
        "--pool",
        "prefork",
        "--concurrency",
        str(CONCURRENCY),
        "--queues",
        broker.HERD_QUEUE,
        "--hostname",
        f"{tag}@%h",
        "--loglevel=WARNING",
        # No broadcast traffic between workers: there is one, and it should only consume the herd.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return subprocess.Popen(
        command, cwd=processes.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


@contextmanager
def running(procs: list[subprocess.Popen[bytes]], *, grace: float) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stop ``procs`` (their whole process groups: a worker's pool too) however the block ends."""
    try:
        yield procs
    finally:
        processes.stop_beats(procs, grace=grace)


def wait_worker_ready(until: float) -> dict[str, float] | None:
    """When the worker said it was ready, and whether its write-back receivers are connected."""
    client = broker.client()
    while time.time() < until:
        ready = client.hgetall(READY)
        if ready:
            return {key.decode(): float(value) for key, value in ready.items()}
        time.sleep(0.05)
    return None


# --- the runs' own records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One run as the worker's task recorded it (Unix seconds)."""

    started: float
    done: float
    task_id: str
    name: str


def read_runs() -> list[Run]:
    client = broker.client()
    total = int(client.llen(RUNS))
    runs = []
    for start in range(0, total, READ_CHUNK):
        for raw in client.lrange(RUNS, start, start + READ_CHUNK - 1):
            started, done, task_id, name = raw.decode().split(" ", 3)
            runs.append(Run(float(started), float(done), task_id, name))
    return runs


def run_count() -> int:
    return int(broker.client().llen(RUNS))


def wait_until(condition: Callable[[], bool], *, until: float, interval: float = 0.05) -> bool:
    while True:
        if condition():
            return True
        if time.time() > until:
            return False
        time.sleep(interval)


def wait_quiet(*, until: float, quiet: float = 2.0) -> None:
    """Until no run has been recorded for ``quiet`` seconds."""
    count, changed_at = run_count(), time.time()
    while time.time() < until and time.time() - changed_at < quiet:
        time.sleep(0.1)
        now_count = run_count()
        if now_count != count:
            count, changed_at = now_count, time.time()


def spread(values: list[float]) -> dict[str, float | None]:
    """p50 / p99 / max (nearest rank) of seconds, rounded to the millisecond."""
    if not values:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))], 3)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1], 3)}


# --- measurement 1: the herd with a worker ------------------------------------------------------------------


def herd_once(kind: str, n: int, options: argparse.Namespace) -> dict[str, Any]:
    """Seed and arm ``kind``'s herd, run one beat and one worker through it, and read the runs back."""
    tag = f"e2e-herd-{kind}-n{n}" + ("" if options.write_back else "-no-write-back") + _suffix()
    result: dict[str, Any] = {"tag": tag, "scheduler": kind, "n": n, "concurrency": CONCURRENCY}
    print(f"[{tag}] seeding", flush=True)
    if seed.workload_count(kind) != n:
        seed.seed(kind, n, now=utc(time.time()))
    broker.reset()
    boundary = arm(kind, n, lead=options.lead)
    result["boundary"] = utc(boundary).isoformat()
    print(f"[{tag}] armed for {utc(boundary):%H:%M:%S}, starting a worker and a beat", flush=True)
    spawned_at = time.time()
    worker = start_worker(tag, write_back=options.write_back)
    with running([worker], grace=WORKER_STOP_GRACE):
        ready = wait_worker_ready(spawned_at + WORKER_STARTUP_TIMEOUT)
        result["worker_ready_s"] = round(ready["at"] - spawned_at, 3) if ready else None
        result["worker_write_back"] = bool(ready and ready["write_back"])
        beats = processes.start_beats(kind, 1, log_dir=LOGS, tag=tag)
        with running(beats, grace=10.0):
            watch_herd(beats, result, boundary=boundary, n=n, spawned_at=spawned_at, options=options)
        result["beat_stopped_s"] = round(time.time() - boundary, 3)
        drained = wait_until(lambda: broker.client().llen(broker.HERD_QUEUE) == 0, until=time.time() + DRAIN_TIMEOUT)
        result["queue_drained"] = drained
        wait_quiet(until=time.time() + DRAIN_TIMEOUT)  # the worker's prefetched messages run after the queue empties
        if kind == "beat_store" and options.write_back:
            wait_until(lambda: executions_settled(boundary, n), until=time.time() + DRAIN_TIMEOUT, interval=0.5)
    result.update(lateness(read_runs(), boundary=boundary, n=n, overran=result["window_overran"]))
    if kind == "beat_store":
        result["execution_table"] = execution_lateness(boundary)
    return result


def arm(kind: str, n: int, *, lead: float) -> float:
    """Arm ``kind``'s workload for the first boundary ``lead`` seconds away (one minute on if arming was slow)."""
    boundary = next_boundary(time.time() + lead)
    seed.arm(kind, n, boundary=utc(boundary), now=utc(time.time()))
    if boundary - time.time() < lead / 2:
        boundary += 60
        seed.arm(kind, n, boundary=utc(boundary), now=utc(time.time()))
    return boundary


def watch_herd(
    beats: list[subprocess.Popen[bytes]],
    result: dict[str, Any],
    *,
    boundary: float,
    n: int,
    spawned_at: float,
    options: argparse.Namespace,
) -> None:
    """Until every schedule has a run, or ``--herd-timeout`` after the boundary; the beat stops right after."""

    def beat_alive() -> bool:
        return all(beat.poll() is None for beat in beats)

    canary = broker.wait_for_length(seed.CANARY, 1, until=spawned_at + options.startup_timeout)
    result["beat_startup_s"] = round(canary - spawned_at, 3) if canary else None
    result["started_after_boundary"] = bool(canary and canary > boundary)
    until = boundary + options.herd_timeout
    complete = wait_until(lambda: run_count() >= n or not beat_alive(), until=until, interval=0.05)
    result["herd_complete_in_window"] = complete and run_count() >= n
    result["beat_alive_at_end"] = beat_alive()
    # A beat still running at B + 60 s sends the next minute's runs: those cannot be told from duplicates.
    result["window_overran"] = time.time() >= boundary + 60


def lateness(runs: list[Run], *, boundary: float, n: int, overran: bool) -> dict[str, Any]:
    """Task start - B of each schedule's first run, and what ran twice or not at all."""
    workload = [run for run in runs if run.name.startswith(seed.WORKLOAD_PREFIX)]
    first: dict[str, float] = {}
    per_name: Counter[str] = Counter()
    for run in workload:
        per_name[run.name] += 1
        first[run.name] = min(first.get(run.name, run.started), run.started)
    before_next = Counter(run.name for run in workload if run.started < boundary + 60)
    delays = [started - boundary for started in first.values()]
    return {
        "runs_recorded": len(workload),
        "schedules_started": len(first),
        "lateness_s": spread(delays),
        "last_started_s": round(max(delays), 3) if delays else None,
        "first_started_s": round(min(delays), 3) if delays else None,
        # Without an overrun every second run of a schedule is a duplicate; with one, only those before B + 60 s.
        "duplicates": None if overran else sum(count - 1 for count in per_name.values()),
        "duplicates_before_next_fire": sum(count - 1 for count in before_next.values()),
        "duplicate_task_ids": sum(count - 1 for count in Counter(run.task_id for run in workload).values()),
        "misses": n - len(first),
    }


def _herd_runs(boundary: float) -> Any:
    from beat_store.models import Execution

    return Execution.objects.filter(schedule_name__startswith=seed.WORKLOAD_PREFIX, fire_time=utc(boundary))


def executions_settled(boundary: float, n: int) -> bool:
    """Has every run of the herd reached a final state in the table (the reports are written asynchronously)?"""
    from beat_store.enums import ExecutionStatus

    return _herd_runs(boundary).filter(status__in=ExecutionStatus.final_values()).count() >= n


def execution_lateness(boundary: float) -> dict[str, Any]:
    """beat_store's own view: ``started_at - fire_time`` of the herd's runs, and their statuses."""
    rows = list(_herd_runs(boundary).values_list("status", "fire_time", "started_at"))
    statuses = Counter(status for status, _, _ in rows)
    delays = [(started - fired).total_seconds() for _, fired, started in rows if started is not None]
    return {
        "runs": len(rows),
        "statuses": dict(statuses),
        "all_succeeded": bool(rows) and statuses.get("succeeded", 0) == len(rows),
        "lateness_s": spread(delays),
    }


def command_herd(options: argparse.Namespace) -> None:
    create_database()
    RESULTS.mkdir(exist_ok=True)
    for kind in _csv(options.schedulers):
        if kind not in processes.SCHEDULERS:
            raise SystemExit(f"unknown scheduler {kind!r}: choose from {', '.join(processes.SCHEDULERS)}")
        result = {"code": code_version(), "date": utc(time.time()).isoformat(), "diagnoses": _diagnoses()}
        result.update(herd_once(kind, options.n, options))
        result["herd_timeout_s"] = options.herd_timeout
        _write(RESULTS / f"{result['tag']}.json", result)


# --- measurement 2: write-back cost per task ----------------------------------------------------------------


def queue_backlog(m: int) -> None:
    """M execution rows (status ``sent``) and, in the herd queue, one no-op message per row with its headers."""
    from beat_store import headers
    from beat_store.enums import ExecutionStatus
    from beat_store.models import Execution
    from bench.worker_app import app

    broker.reset()
    seed._truncate(Execution._meta.db_table)
    fire_time = utc(next_boundary(time.time()) - 60)
    rows = [
        Execution(
            schedule_name=f"wb-{i:06d}",
            task=seed.TASK,
            fire_time=fire_time + timedelta(seconds=i),  # distinct (name, fire time), as real runs have
            task_id=str(uuid.uuid4()),
            status=ExecutionStatus.SENT,
            send_at=fire_time,
            sent_at=fire_time,
        )
        for i in range(m)
    ]
    seed._bulk_create(Execution, iter(rows))
    rows = list(Execution.objects.order_by("id").only("id", "schedule_name", "fire_time", "task_id"))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Execution._meta.db_table}")  # the worker's UPDATEs find rows by task_id
    with app.producer_or_acquire() as producer:
        for row in rows:
            app.send_task(
                seed.TASK,
                args=[row.schedule_name],
                task_id=row.task_id,
                headers=headers.build(schedule_name=row.schedule_name, execution_id=row.pk, fire_time=row.fire_time),
                producer=producer,
            )


def statuses_of_backlog() -> dict[str, int]:
    from beat_store.models import Execution

    return dict(Counter(Execution.objects.filter(schedule_name__startswith="wb-").values_list("status", flat=True)))


def write_back_once(m: int, *, write_back: bool, round_number: int) -> dict[str, Any]:
    """Queue the backlog, then start a worker and time it from its first run started to its last run done."""
    mode = "on" if write_back else "off"
    tag = f"e2e-writeback-{mode}-r{round_number}"
    print(f"[{tag}] queueing {m} messages", flush=True)
    queued_at = time.time()
    queue_backlog(m)
    result: dict[str, Any] = {"tag": tag, "write_back": write_back, "round": round_number, "m": m}
    result["queued"] = int(broker.client().llen(broker.HERD_QUEUE))
    result["queue_s"] = round(time.time() - queued_at, 1)
    spawned_at = time.time()
    worker = start_worker(tag, write_back=write_back)
    with running([worker], grace=WORKER_STOP_GRACE):
        ready = wait_worker_ready(spawned_at + WORKER_STARTUP_TIMEOUT)
        result["worker_write_back"] = bool(ready and ready["write_back"])
        if ready:
            wait_until(
                lambda: run_count() >= m or worker.poll() is not None,
                until=time.time() + consumption_timeout(m),
                interval=0.2,
            )
    runs = read_runs()
    result["runs_recorded"] = len(runs)
    if runs:
        elapsed = max(run.done for run in runs) - min(run.started for run in runs)
        result["elapsed_s"] = round(elapsed, 3)
        result["tasks_per_s"] = round(len(runs) / elapsed, 1)
    result["statuses"] = statuses_of_backlog()
    print(f"[{tag}] {json.dumps(result)}", flush=True)
    return result


def consumption_timeout(m: int) -> float:
    """A bound on one consumption: 20 tasks/s would be pathological on any machine."""
    return max(120.0, m / 20)


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median tasks/s with and without write-back, and the cost of write-back in % of the throughput without."""
    rates = {
        mode: [run["tasks_per_s"] for run in rounds if run["write_back"] is flag and run.get("tasks_per_s")]
        for mode, flag in (("on", True), ("off", False))
    }
    medians = {mode: statistics.median(values) if values else None for mode, values in rates.items()}
    cost = (1 - medians["on"] / medians["off"]) * 100 if medians["on"] and medians["off"] else None
    return {
        "tasks_per_s": rates,
        "median_tasks_per_s": medians,
        "write_back_cost_pct": round(cost, 1) if cost is not None else None,
    }


def command_write_back(options: argparse.Namespace) -> None:
    create_database()
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {
        "code": code_version(),
        "date": utc(time.time()).isoformat(),
        "m": options.m,
        "concurrency": CONCURRENCY,
        "diagnoses": _diagnoses(),
    }
    rounds = []
    for number in range(1, options.rounds + 1):
        for write_back in (True, False):
            rounds.append(write_back_once(options.m, write_back=write_back, round_number=number))
    result["rounds"] = rounds
    result.update(summarise(rounds))
    _write(RESULTS / f"e2e-writeback-m{options.m}{_suffix()}.json", result)


# --- command line -------------------------------------------------------------------------------------------


def _csv(text: str) -> list[str]:
    return [item for item in text.split(",") if item]


def _write(path: Path, result: dict[str, Any]) -> None:
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, default=str), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers_e2e", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    herd = commands.add_parser("herd", help="lateness of a herd from the boundary to task start, with a worker")
    herd.add_argument("--schedulers", default="beat_store,redbeat,dcb", help="comma list of beat_store, dcb, redbeat")
    herd.add_argument("--n", type=int, default=10_000, help="schedules, all due at one boundary")
    herd.add_argument("--lead", type=float, default=45.0, help="minimum seconds from arming to the boundary")
    herd.add_argument(
        "--herd-timeout", type=float, default=50.0, help="seconds after the boundary before the beat is stopped"
    )
    herd.add_argument("--startup-timeout", type=float, default=120.0)
    herd.add_argument(
        "--no-write-back",
        dest="write_back",
        action="store_false",
        help="the worker without beat_store's receivers (BENCH_WRITE_BACK=0): the herd's lateness without them",
    )
    write_back = commands.add_parser("write-back", help="worker throughput with and without beat_store's write-back")
    write_back.add_argument("--m", type=int, default=20_000, help="messages queued before the worker starts")
    write_back.add_argument("--rounds", type=int, default=2, help="alternations of with / without write-back")
    options = parser.parse_args(argv)
    if options.command == "herd":
        command_herd(options)
    else:
        command_write_back(options)


if __name__ == "__main__":
    main(sys.argv[1:])
