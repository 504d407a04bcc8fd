"""Tasks of every behaviour the admin shows: quick, slow, failing, retrying."""

from __future__ import annotations

import random
import time

from celery import shared_task


@shared_task(name="demo.tasks.quick")
def quick(label: str = "quick") -> str:
    return f"{label} done"


@shared_task(name="demo.tasks.slow")
def slow(seconds: float = 5.0) -> str:
    time.sleep(seconds)
    return f"slept {seconds:g} s"


# An expected failure (Celery's `throws`): the worker logs one line, not a traceback every 30 s; the run is still
# recorded `failed`, with its traceback, in the admin.
@shared_task(name="demo.tasks.failing", throws=(RuntimeError,))
def failing() -> None:
    raise RuntimeError("this task always fails, to show a traceback in the admin")


@shared_task(name="demo.tasks.flaky", bind=True, max_retries=3, default_retry_delay=2)
def flaky(self) -> str:  # type: ignore[no-untyped-def]
    if random.random() < 0.5:
        raise self.retry(exc=ConnectionError("flaky upstream"))
    return "made it"
