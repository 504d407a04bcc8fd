"""The Celery app of the end-to-end benchmark's worker (``celery -A bench.worker_app worker``, bench/workers_e2e.py).

Its ``bench.noop`` has the name the benchmarked beats send (``bench.celery_app``), and records every run it
executes, so that the three schedulers are measured the same way, by the worker and not by any scheduler's own
records: one ``RPUSH`` per run to the Redis list :data:`RUNS` of ``"<started> <done> <task id> <name>"``
(Unix seconds), written in ``task_postrun``. Postrun comes after ``task_success``, so ``done`` includes
beat_store's write-back of the success when it is on.

``BENCH_WRITE_BACK=0`` is the benchmark's switch for beat_store's write-back: the worker then runs with
beat_store's worker receivers (``beat_store.receivers``) disconnected, as a project that never called
``receivers.connect()`` would. beat_store's code is unchanged; ``AppConfig.ready`` connects them, and this module
runs Django's setup first so that it can take them off again before the pool forks.
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

import redis  # noqa: E402
from celery import Celery, signals  # noqa: E402
from django.conf import settings  # noqa: E402

#: The Redis list of the runs executed (in BENCH_REDIS_URL's db, flushed before each measurement).
RUNS = "e2e:runs"
#: A hash written when the worker is ready: when, and whether the write-back receivers are connected.
READY = "e2e:ready"
#: Every receiver ``beat_store.receivers.connect()`` wires for the task's life, by dispatch_uid.
WRITE_BACK_SIGNALS = {
    signals.task_prerun: "beat_store.on_task_prerun",
    signals.task_success: "beat_store.on_task_success",
    signals.task_failure: "beat_store.on_task_failure",
    signals.task_retry: "beat_store.on_task_retry",
    signals.task_revoked: "beat_store.on_task_revoked",
}

app = Celery("bench")
app.config_from_object("django.conf:settings", namespace="CELERY")


def write_back_enabled() -> bool:
    """The switch: ``BENCH_WRITE_BACK`` unset or ``1`` keeps beat_store's receivers, ``0`` disconnects them."""
    return os.environ.get("BENCH_WRITE_BACK", "1") != "0"


def write_back_connected() -> bool:
    """Are beat_store's receivers wired in this process? Read from the signals themselves, not from the switch."""
    return all(any(key[0] == uid for key, _ in signal.receivers) for signal, uid in WRITE_BACK_SIGNALS.items())


def _disconnect_write_back() -> None:
    for signal, uid in WRITE_BACK_SIGNALS.items():
        signal.disconnect(dispatch_uid=uid)


if not write_back_enabled():
    _disconnect_write_back()

_client: redis.Redis | None = None
#: The run this pool process is executing (prefork: one at a time): started, task id, name.
_current: tuple[float, str, str] | None = None


def _redis() -> redis.Redis:
    """One client per process; redis-py's pool opens new connections in a forked child."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(settings.REDIS_URL)
    return _client


@app.task(name="bench.noop")
def noop(name: str) -> str:
    """Does nothing but note when it started; the record is written after the run (``_record_run``)."""
    global _current
    _current = (time.time(), str(noop.request.id), name)
    return name


@signals.task_postrun.connect(weak=False)
def _record_run(task: Any = None, **kwargs: Any) -> None:
    """After the success signal's receivers (beat_store's write-back among them): one RPUSH per run."""
    global _current
    if _current is None or getattr(task, "name", None) != noop.name:
        return
    started, task_id, name = _current
    _current = None
    _redis().rpush(RUNS, f"{started:.6f} {time.time():.6f} {task_id} {name}")


@signals.worker_ready.connect(weak=False)
def _announce_ready(**kwargs: Any) -> None:
    _redis().hset(READY, mapping={"at": f"{time.time():.6f}", "write_back": int(write_back_connected())})
