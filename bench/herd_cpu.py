"""CPU seconds a beat spends on one herd tick, measured in-process.

    BENCH_PG_NAME=... .venv/bin/python -m bench.herd_cpu [--n 10000] [--attempts 3] [--receiver]
        [--publish-receivers] [--staged]

Seeds N workload schedules (as ``bench.run`` does), makes them all due, and times one ``Scheduler.tick()`` that
plans and sends the whole herd to Redis: ``process_time`` (this process's CPU only, so PostgreSQL, Redis and
whatever else shares the machine do not count) and wall time. On a busy machine wall times of two commits
are hard to compare; their CPU seconds are not. Needs ``python -m bench.run setup`` first.

``--publish-receivers`` alternates attempts without and with ``before_task_publish``/``after_task_publish``
receivers such as a tracing integration connects (one stamps a trace header on each message, as OpenTelemetry's
propagator does; the other does nothing), so both figures come from the same minutes of the same machine.

``--staged`` measures the herd decided ahead (``BEAT_STORE_PREPARE_AHEAD``): a tick 15 s before the fire time
decides the herd and stages its messages in Redis (its CPU and wall time), then the tick at the fire time releases
them (its CPU time, and the seconds from the fire time until every message is in its queue and recorded sent).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

import redis  # noqa: E402
from celery import Celery, signals  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from beat_store.models import Execution  # noqa: E402
from beat_store.scheduler import Scheduler  # noqa: E402
from bench import seed  # noqa: E402
from bench.celery_app import end_span, stamp_trace_header  # noqa: E402
from bench.settings import REDIS_URL  # noqa: E402


def one_herd(n: int) -> dict[str, float]:
    now = timezone.now()
    seed.seed("beat_store", n, now=now)
    seed.arm("beat_store", n, boundary=now.replace(microsecond=0) - timedelta(seconds=1), now=now)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    scheduler = Scheduler(Celery("bench-herd-cpu", broker=REDIS_URL, set_as_current=True))
    cpu, wall = time.process_time(), time.perf_counter()
    scheduler.tick()
    result = {
        "cpu_s": round(time.process_time() - cpu, 3),
        "wall_s": round(time.perf_counter() - wall, 3),
        "queued": client.llen("celery"),
    }
    scheduler.close()
    return result


def one_staged_herd(n: int, *, lead: float = 15.0) -> dict[str, float]:
    """A herd decided ahead: one tick ``lead`` seconds (or up to a minute more) before the fire time stages it, one
    at the fire time
    releases it. The first tick's CPU and wall seconds; for the release, its CPU seconds and the seconds from the
    fire time until every message is in the queue (watched from another thread) and until the tick ends."""
    now = timezone.now()
    seed.seed("beat_store", n, now=now)
    # One second past a minute: the cron's next fire time is then 59 s later, out of the window decided ahead.
    boundary = (now + timedelta(seconds=lead + 60)).replace(second=1, microsecond=0)
    if (boundary - now).total_seconds() > lead + 60:
        boundary -= timedelta(seconds=60)
    seed.arm("beat_store", n, boundary=boundary, now=now)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    scheduler = Scheduler(Celery("bench-herd-cpu", broker=REDIS_URL, set_as_current=True))
    with override_settings(BEAT_STORE_PREPARE_AHEAD=(boundary - timezone.now()).total_seconds() + 2):
        cpu, wall = time.process_time(), time.perf_counter()
        scheduler.tick()
        prepared = {
            "stage_cpu_s": round(time.process_time() - cpu, 3),
            "stage_wall_s": round(time.perf_counter() - wall, 3),
        }
    # Imported here: bench/compare.sh copies this file into older commits, which have no staging.
    from beat_store.runs import STAGED

    staged = Execution.objects.filter(lease_owner=STAGED).count()
    queued_at = _watch_queue(client, n)
    time.sleep(max(0.0, (boundary - timezone.now()).total_seconds()))
    # The release alone: nothing more is decided ahead in this tick (the cron's next minute would be).
    with override_settings(BEAT_STORE_PREPARE_AHEAD=0.5):
        cpu = time.process_time()
        scheduler.tick()
        finished = timezone.now()
    queued_at.join(timeout=30)
    result = {
        **prepared,
        "staged": staged,
        "release_cpu_s": round(time.process_time() - cpu, 3),
        "all_queued_s_after_fire_time": round(queued_at.reached - boundary.timestamp(), 3)
        if queued_at.reached
        else None,
        "tick_done_s_after_fire_time": round((finished - boundary).total_seconds(), 3),
        "queued": client.llen("celery"),
    }
    scheduler.close()
    return result


class _QueueWatch(threading.Thread):
    """Notes when the queue first holds ``count`` messages (polling every millisecond)."""

    def __init__(self, client: redis.Redis, count: int) -> None:
        super().__init__(daemon=True)
        self.client, self.count, self.reached = client, count, 0.0

    def run(self) -> None:
        give_up = time.time() + 600
        while time.time() < give_up and self.client.llen("celery") < self.count:
            time.sleep(0.001)
        self.reached = time.time()


def _watch_queue(client: redis.Redis, count: int) -> _QueueWatch:
    watch = _QueueWatch(redis.Redis.from_url(REDIS_URL), count)
    watch.start()
    return watch


def with_publish_receivers(herd: Callable[[], dict[str, float]]) -> dict[str, float]:
    signals.before_task_publish.connect(stamp_trace_header)
    signals.after_task_publish.connect(end_span)
    try:
        return {**herd(), "publish_receivers": True}
    finally:
        signals.before_task_publish.disconnect(stamp_trace_header)
        signals.after_task_publish.disconnect(end_span)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.herd_cpu", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument(
        "--receiver", action="store_true", help="connect a no-op beat_store.signals.run_changed receiver (#10)"
    )
    parser.add_argument(
        "--publish-receivers",
        action="store_true",
        help="alternate attempts without and with Celery publish-signal receivers (#12)",
    )
    parser.add_argument(
        "--staged", action="store_true", help="decide the herd ahead, stage it, release it at its fire time (#12)"
    )
    parser.add_argument(
        "--lead", type=float, default=15.0, help="--staged: seconds from the first tick to the fire time"
    )
    options = parser.parse_args()
    if options.receiver:
        from beat_store.signals import run_changed

        run_changed.connect(lambda sender, **change: None, weak=False, dispatch_uid="bench.noop_receiver")
    results = []
    for _ in range(options.attempts):
        herd = (
            functools.partial(one_staged_herd, options.n, lead=options.lead)
            if options.staged
            else functools.partial(one_herd, options.n)
        )
        results.append(herd())
        if options.publish_receivers:
            results.append(with_publish_receivers(herd))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
