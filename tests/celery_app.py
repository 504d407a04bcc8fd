"""The Celery app of the test suite: real `celery beat`/`celery worker` subprocesses load it with -A."""

from __future__ import annotations

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
    import json

    import redis

    request = self.request  # type: ignore[attr-defined]
    described = {field: getattr(request, field, None) for field in DESCRIBED_FIELDS}
    delivery = request.delivery_info or {}
    described["delivery_info"] = {key: delivery.get(key) for key in ("exchange", "routing_key", "priority")}
    described["headers"] = {key: getattr(request, key, None) for key in ("tenant", "beat_store_schedule")}
    client = redis.Redis.from_url(app.conf.broker_url)
    client.set(f"described:{request.id}", json.dumps(described, default=str))
    client.close()
