"""Command line of the benchmark: set up the database, run scenarios, print the results table.

    python -m bench.run setup
    python -m bench.run run --schedulers beat_store,dcb,redbeat --n 1000,10000 --beats 1,3
    python -m bench.run report
    python -m bench.run drop

One run = one scheduler, one N, one number of beats, timed as follows (wall clock, UTC):

1. seed N schedules (reused when already there), flush the Redis db, arm every workload schedule to be due at
   the first minute boundary B at least ``--lead`` seconds away;
2. start the beats; start-up = from just before spawning them to the first message of the ``canary`` schedule
   (due at once) in its queue;
3. idle CPU: beat CPU time over a quiet window (``--idle`` seconds, cut short before B), scaled to a minute;
4. edit: the ``edit`` schedule goes from yearly to every second; latency = from the committed edit to its first
   message (watched in the background until the run ends);
5. herd at B: seconds from B until 50 %, 99 %, 100 % of N messages are in the ``celery`` list;
6. the run goes on for ``--fire-times`` boundaries and ends before the next one; peak RSS (VmHWM) is read,
   the beats are stopped, and every message is decoded to count duplicates and misses per schedule.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from django.db import connection  # noqa: E402

from bench import broker, processes, seed  # noqa: E402
from bench.database import create_database, drop_database  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
LOGS = HERE / "logs"
#: Every run ends this long after its last measured boundary, before the following one fires.
WINDOW_AFTER_LAST = 50.0


def next_boundary(after: float) -> float:
    return math.ceil(after / 60.0) * 60.0


def utc(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, tz=timezone.utc)


def run_name(kind: str, n: int, beats: int) -> str:
    """``beat_store-n10000-b1``, with ``-mysql`` on MariaDB/MySQL (PostgreSQL, the reference, has no suffix) and
    ``-receivers`` with publish-signal receivers connected in the beats."""
    suffix = "-mysql" if connection.vendor == "mysql" else ""
    if os.environ.get("BENCH_PUBLISH_RECEIVERS"):
        suffix += "-receivers"
    return f"{kind}-n{n}-b{beats}{suffix}"


def run_once(kind: str, n: int, beats: int, options: argparse.Namespace) -> dict[str, Any]:
    tag = run_name(kind, n, beats)
    result: dict[str, Any] = {
        "tag": tag,
        "scheduler": kind,
        "database": connection.vendor,
        "n": n,
        "beats": beats,
        "fire_times": options.fire_times,
        "publish_receivers": bool(os.environ.get("BENCH_PUBLISH_RECEIVERS")),
    }
    print(f"[{tag}] seeding", flush=True)
    started = time.time()
    if seed.workload_count(kind) != n:
        seed.seed(kind, n, now=utc(started))
    result["seed_seconds"] = round(time.time() - started, 1)

    broker.reset()
    boundary = next_boundary(time.time() + options.lead)
    seed.arm(kind, n, boundary=utc(boundary), now=utc(time.time()), keep_history=options.keep_history)
    if boundary - time.time() < options.lead / 2:  # arming took long: move everything one minute on
        boundary += 60
        seed.arm(kind, n, boundary=utc(boundary), now=utc(time.time()), keep_history=options.keep_history)
    result["boundary"] = utc(boundary).isoformat()
    print(f"[{tag}] armed for {utc(boundary):%H:%M:%S}, starting {beats} beat(s)", flush=True)

    spawned_at = time.time()
    procs = processes.start_beats(kind, beats, log_dir=LOGS, tag=tag)
    pruner = processes.start_pruner() if options.prune_alongside else None
    edit_watch = broker.FirstMessageWatch(seed.EDIT)
    try:
        return _measure(procs, result, edit_watch, boundary=boundary, spawned_at=spawned_at, n=n, options=options)
    finally:
        edit_watch.stop()
        processes.stop_beats(procs)
        if pruner is not None:
            result["pruner"] = processes.stop_pruner(pruner)


def _measure(
    procs: list[Any],
    result: dict[str, Any],
    edit_watch: broker.FirstMessageWatch,
    *,
    boundary: float,
    spawned_at: float,
    n: int,
    options: argparse.Namespace,
) -> dict[str, Any]:
    pids = [proc.pid for proc in procs]

    def alive() -> bool:
        return all(proc.poll() is None for proc in procs)

    first = broker.wait_for_length(seed.CANARY, 1, until=spawned_at + options.startup_timeout)
    result["startup_s"] = round(first - spawned_at, 3) if first else None
    result["started_after_boundary"] = bool(first and first > boundary)
    result["rss_after_startup_mib"] = [processes.peak_rss_mib(pid) for pid in pids]

    quiet_from = max(time.time(), (first or time.time()) + 1.0)
    window = min(options.idle, boundary - 8.0 - quiet_from)
    if window >= 3.0 and alive():
        time.sleep(max(0.0, quiet_from - time.time()))
        before = [processes.cpu_seconds(pid) for pid in pids]
        time.sleep(window)
        after = [processes.cpu_seconds(pid) for pid in pids]
        result["idle_window_s"] = round(window, 1)
        result["idle_cpu_s_per_min"] = [round((b - a) / window * 60, 3) for a, b in zip(before, after, strict=True)]
    else:
        result["idle_window_s"] = None
        result["idle_cpu_s_per_min"] = None

    if boundary - time.time() > 2.0 and alive():
        edit_watch.start()
        seed.EDITS[result["scheduler"]]()
        edited_at = time.time()
    else:
        edited_at = None

    herd = broker.HerdWatch(expected=n, boundary=boundary)
    profiler = processes.start_profiler(pids[0], RESULTS / f"{result['tag']}-herd.txt") if options.profile else None
    herd.watch(until=boundary + options.herd_timeout, is_alive=alive)
    if profiler is not None:
        processes.stop_profiler(profiler)
    result["herd_s"] = herd.reached
    result["herd_count_at_end"] = herd.count_at_end

    last_boundary = boundary + 60 * (options.fire_times - 1)
    # A herd watched for longer than a minute overruns the following fire time: the tally then counts
    # beat_store's runs by their fire-time header, and cannot count the peers' at all.
    end = max(last_boundary + WINDOW_AFTER_LAST, boundary + options.herd_timeout)
    result["window_overran"] = end >= last_boundary + 60
    # Duplicates can fill the list to n * fire_times early: count only once the last boundary has fired, and
    # give its herd as long as the first one took (twice, at least 5 s) before stopping.
    time.sleep(max(0.0, last_boundary - time.time()))
    complete = broker.wait_for_length(broker.HERD_QUEUE, n * options.fire_times, until=end, interval=0.05)
    first_herd = herd.reached.get("p100")
    settle_until = min(end, last_boundary + max(5.0, 2 * first_herd if first_herd is not None else end))
    time.sleep(max(0.0, settle_until - time.time()))
    result["all_fire_times_in_s"] = round(complete - last_boundary, 3) if complete else None
    result["peak_rss_mib"] = [processes.peak_rss_mib(pid) for pid in pids]
    result["beats_alive_at_end"] = sum(proc.poll() is None for proc in procs)
    result["edit_s"] = (
        round(edit_watch.seen_at - edited_at, 3) if edited_at is not None and edit_watch.seen_at else None
    )
    result["edit_made"] = edited_at is not None
    processes.stop_beats(procs)
    result["raw_pipeline_s"] = broker.raw_pipeline_seconds(n)
    names = [seed.workload_name(i) for i in range(n)]
    fire_times = [utc(boundary + 60 * k) for k in range(options.fire_times)]
    result["tally"] = asdict(broker.tally(names, fire_times=fire_times))
    return result


def _csv(kind: type, text: str) -> list[Any]:
    return [kind(item) for item in text.split(",") if item]


def code_version() -> str:
    """The commit under test, ``+dirty`` when beat_store/ has uncommitted changes (the tree moves during work)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "beat_store"], cwd=HERE.parent, capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"{commit}+dirty" if dirty else commit


def command_run(options: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    create_database()  # also applies migrations added since the last run
    for n in _csv(int, options.n):
        for kind in _csv(str, options.schedulers):
            if kind not in processes.SCHEDULERS:
                raise SystemExit(f"unknown scheduler {kind!r}: choose from {', '.join(processes.SCHEDULERS)}")
            for beats in _csv(int, options.beats):
                version = code_version()
                result = run_once(kind, n, beats, options)
                result["code"] = version
                path = RESULTS / f"{run_name(kind, n, beats)}.json"
                path.write_text(json.dumps(result, indent=2) + "\n")
                print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="create and migrate the bench database")
    commands.add_parser("drop", help="drop the bench database")
    commands.add_parser("report", help="print the markdown table of bench/results/*.json")
    run = commands.add_parser("run", help="run scenarios; one JSON file per run in bench/results/")
    run.add_argument("--schedulers", default="beat_store", help="comma list of beat_store, dcb, redbeat")
    run.add_argument("--n", default="1000", help="comma list of schedule counts, e.g. 1000,10000,100000")
    run.add_argument("--beats", default="1,3", help="comma list of beat process counts")
    run.add_argument("--fire-times", type=int, default=2, help="boundaries counted for duplicates and misses")
    run.add_argument("--lead", type=float, default=35.0, help="minimum seconds from arming to the first herd")
    run.add_argument("--idle", type=float, default=15.0, help="idle CPU window, seconds")
    run.add_argument("--herd-timeout", type=float, default=50.0, help="seconds after the boundary to stop watching")
    run.add_argument("--startup-timeout", type=float, default=120.0)
    run.add_argument(
        "--keep-history",
        action="store_true",
        help="beat_store: keep runs older than a day when arming (an expired history seeded by bench.retention)",
    )
    run.add_argument(
        "--prune-alongside",
        action="store_true",
        help="beat_store: delete expired runs back to back in another process for the whole run (bench.pruner)",
    )
    run.add_argument(
        "--publish-receivers",
        action="store_true",
        help="connect before/after_task_publish receivers in the beats, as tracing integrations do (issue 12)",
    )
    run.add_argument(
        "--profile", action="store_true", help="py-spy the first beat through the herd (collapsed stacks in results/)"
    )
    options = parser.parse_args(argv)
    if options.command == "setup":
        create_database()
    elif options.command == "drop":
        drop_database()
    elif options.command == "report":
        from bench.report import print_table

        # e2e-*.json are bench.workers_e2e's results, of another shape (docs/benchmarks.md, issue 12).
        print_table(sorted(path for path in RESULTS.glob("*.json") if not path.name.startswith("e2e-")))
    else:
        if options.publish_receivers:
            os.environ["BENCH_PUBLISH_RECEIVERS"] = "1"  # read by bench.celery_app in each beat
        command_run(options)


if __name__ == "__main__":
    main(sys.argv[1:])
