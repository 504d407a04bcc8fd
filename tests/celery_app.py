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
