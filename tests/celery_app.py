"""The Celery app of the test suite: real `celery beat`/`celery worker` subprocesses load it with -A."""

from __future__ import annotations

import json
import os
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from celery import Celery

app = Celery("beat_store_tests")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="tests.add")
def add(x: int, y: int) -> int:
    return x + y


@app.task(name="tests.fail")
def fail(message: str = "boom") -> None:
    raise ValueError(message)


@app.task(name="tests.append_line")
def append_line(path: str, text: str) -> str:
    """A side effect outside the database: tests see that the task ran when its record cannot say so."""
    with open(path, "a", encoding="utf-8") as file:
        file.write(text + "\n")
    return text


@app.task(name="tests.sleep")
def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return f"slept {seconds}"


@app.task(name="tests.retry_once", bind=True, max_retries=3, default_retry_delay=0)
def retry_once(self: object) -> str:
    if self.request.retries == 0:  # type: ignore[attr-defined]
        raise self.retry(exc=RuntimeError("first attempt fails"), countdown=0)  # type: ignore[attr-defined]
    return "second attempt succeeded"


@app.task(name="tests.retry_then_fail", bind=True, max_retries=1, default_retry_delay=0)
def retry_then_fail(self: object) -> str:
    attempt = self.request.retries + 1  # type: ignore[attr-defined]
    raise self.retry(exc=ConnectionError(f"upstream down (attempt {attempt})"), countdown=0)  # type: ignore[attr-defined]


#: Request fields `tests.describe_request` records: what a worker makes of the message it consumed.
DESCRIBED_FIELDS = (
    "id",
    "root_id",
    "parent_id",
    "group",
    "args",
    "kwargs",
    "retries",
    "eta",
    "expires",
    "timelimit",
    "ignore_result",
    "correlation_id",
    "reply_to",
    "task",
    "argsrepr",
    "kwargsrepr",
)


@app.task(name="tests.describe_request", bind=True)
def describe_request(self: object, *args: object, **kwargs: object) -> None:
    """Store, in the broker's Redis, how the worker saw this message (for comparing two ways of sending)."""
    import redis

    request = self.request  # type: ignore[attr-defined]
    described = {field: getattr(request, field, None) for field in DESCRIBED_FIELDS}
    delivery = request.delivery_info or {}
    described["delivery_info"] = {key: delivery.get(key) for key in ("exchange", "routing_key", "priority")}
    described["headers"] = {key: getattr(request, key, None) for key in ("tenant", "beat_store_schedule")}
    client = redis.Redis.from_url(app.conf.broker_url)
    client.set(f"described:{request.id}", json.dumps(described, default=str))
    client.close()


@app.task(name="tests.whoami")
def whoami() -> int | None:
    """The id of the execution record of the run this task is (beat_store.current_execution)."""
    from beat_store import current_execution

    execution = current_execution()
    return None if execution is None else execution.pk


#: Real-process tests of beat_store.signals.run_changed: each beat and worker appends every change it announces
#: to this file, one JSON line each.
SIGNAL_LOG = os.environ.get("BEAT_STORE_TEST_SIGNAL_LOG")
if SIGNAL_LOG:
    from beat_store.signals import run_changed

    def log_run_change(sender: object, **change: object) -> None:
        entry = {key: str(value) for key, value in change.items() if key != "signal"}
        with open(SIGNAL_LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps({**entry, "pid": os.getpid()}) + "\n")

    run_changed.connect(log_run_change, weak=False, dispatch_uid="tests.log_run_change")
