"""The dedicated Redis db: reset it, watch queue lengths, and read back every message beat published.

No worker runs, so a kombu Redis queue is a plain list holding each message as JSON; its ``body`` is the
base64 of ``[args, kwargs, embed]``. Every benchmarked schedule passes its own name as ``args[0]``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import redis
from django.conf import settings

HERD_QUEUE = "celery"
READ_CHUNK = 10_000


def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def reset() -> None:
    """Empty the benchmark's own db (its number is in BENCH_REDIS_URL); never FLUSHALL."""
    connection = client()
    db = connection.connection_pool.connection_kwargs.get("db", 0)
    if db in (0, 14, 15):
        raise SystemExit(f"refusing to flush Redis db {db}: give the benchmark a dedicated db in BENCH_REDIS_URL")
    connection.flushdb()


def wait_for_length(queue: str, count: int, *, until: float, interval: float = 0.005) -> float | None:
    """Wall-clock time at which ``queue`` first held ``count`` messages, or None if not by ``until``."""
    connection = client()
    while True:
        now = time.time()
        if connection.llen(queue) >= count:
            return now
        if now > until:
            return None
        time.sleep(interval)


@dataclass
class HerdWatch:
    """Times (seconds after ``boundary``) at which the herd queue reached 50 %, 99 % and 100 % of ``expected``."""

    expected: int
    boundary: float
    reached: dict[str, float | None] = field(default_factory=dict)
    count_at_end: int = 0

    def watch(self, *, until: float, is_alive: Any, interval: float = 0.002) -> None:
        connection = client()
        marks = {"p50": 0.5, "p99": 0.99, "p100": 1.0}
        pending = {label: max(1, int(self.expected * share)) for label, share in marks.items()}
        self.reached = dict.fromkeys(marks)
        while pending:
            now = time.time()
            length = connection.llen(HERD_QUEUE)
            for label, threshold in list(pending.items()):
                if length >= threshold:
                    self.reached[label] = round(now - self.boundary, 3)
                    del pending[label]
            if now > until or not is_alive():
                break
            time.sleep(interval)
        self.count_at_end = int(connection.llen(HERD_QUEUE))


class FirstMessageWatch(threading.Thread):
    """Records when a queue receives its first message, in the background, until stopped."""

    def __init__(self, queue: str, interval: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.queue = queue
        self.interval = interval
        self.seen_at: float | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        connection = client()
        while not self._stop_event.is_set():
            if connection.llen(self.queue) > 0:
                self.seen_at = time.time()
                return
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        if self.ident is not None:
            self.join(timeout=2)


@dataclass
class Tally:
    """What reached the herd queue over ``fire_times`` fire times, counted per schedule and per run."""

    messages: int
    outside_measured_fire_times: int  # beat_store messages of later fire times, left out of the counts
    schedules_expected: int
    fire_times: int
    duplicates: int  # messages beyond `fire_times` for a schedule
    misses: int  # fire times of a schedule with no message by the end of the window
    duplicate_task_ids: int
    duplicate_runs: int | None  # beat_store only: repeated (schedule, fire time) header pairs
    distinct_fire_times: int | None


def tally(names: list[str], *, fire_times: list[datetime]) -> Tally:
    """Count the herd queue. Messages that carry beat_store's fire-time header are counted only for the
    measured ``fire_times`` (so a window that overran the next fire time still counts right); the peers'
    messages carry no fire time and are all counted."""
    wanted = {moment.astimezone(timezone.utc) for moment in fire_times}
    per_schedule: Counter[str] = Counter()
    per_task_id: Counter[str] = Counter()
    per_run: Counter[tuple[str, str]] = Counter()
    outside = 0
    connection = client()
    total = int(connection.llen(HERD_QUEUE))
    for start in range(0, total, READ_CHUNK):
        for raw in connection.lrange(HERD_QUEUE, start, start + READ_CHUNK - 1):
            message = json.loads(raw)
            headers = message.get("headers") or {}
            if "beat_store_fire_time" in headers:
                fire_time = datetime.fromisoformat(headers["beat_store_fire_time"]).astimezone(timezone.utc)
                if fire_time not in wanted:
                    outside += 1
                    continue
                per_run[(headers["beat_store_schedule"], fire_time.isoformat())] += 1
            args = json.loads(base64.b64decode(message["body"]))[0]
            per_schedule[str(args[0])] += 1
            per_task_id[str(headers.get("id"))] += 1
    return Tally(
        messages=total,
        outside_measured_fire_times=outside,
        schedules_expected=len(names),
        fire_times=len(fire_times),
        duplicates=sum(max(0, per_schedule[name] - len(fire_times)) for name in names),
        misses=sum(max(0, len(fire_times) - per_schedule[name]) for name in names),
        duplicate_task_ids=sum(count - 1 for count in per_task_id.values() if count > 1),
        duplicate_runs=sum(count - 1 for count in per_run.values() if count > 1) if per_run else None,
        distinct_fire_times=len({fire_time for _, fire_time in per_run}) if per_run else None,
    )


def raw_pipeline_seconds(count: int, *, chunk: int = 500) -> float | None:
    """Seconds a bare redis-py pipeline takes to push the same bytes as the herd: the first ``count`` messages of
    the herd queue, pushed again onto a scratch list in chunks of ``chunk`` (one round trip each), then deleted.
    The floor a herd can reach on this machine's Redis, measured in the same minute (issue 12)."""
    connection = client()
    payloads = connection.lrange(HERD_QUEUE, 0, count - 1)
    if len(payloads) < count:
        return None
    scratch = "bench:raw-pipeline"
    connection.delete(scratch)
    started = time.perf_counter()
    for start in range(0, len(payloads), chunk):
        pipeline = connection.pipeline(transaction=False)
        for payload in payloads[start : start + chunk]:
            pipeline.lpush(scratch, payload)
        pipeline.execute()
    elapsed = time.perf_counter() - started
    connection.delete(scratch)
    return round(elapsed, 3)
