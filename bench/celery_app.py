"""The Celery app every benchmarked beat loads with ``-A bench.celery_app``; no worker ever runs."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

from celery import Celery

app = Celery("bench")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="bench.noop")
def noop(name: str) -> str:
    return name


def stamp_trace_header(headers: dict[str, object], **kwargs: object) -> None:
    """What a tracing integration's ``before_task_publish`` receiver does: a trace header on each message."""
    headers["traceparent"] = f"00-{str(headers['id']).replace('-', '')}-0000000000000001-01"


def end_span(**kwargs: object) -> None:
    """A tracing integration's ``after_task_publish`` receiver, doing nothing (its cost is the call)."""


if os.environ.get("BENCH_PUBLISH_RECEIVERS"):  # bench.run --publish-receivers (issue 12)
    from celery import signals

    signals.before_task_publish.connect(stamp_trace_header, weak=False)
    signals.after_task_publish.connect(end_span, weak=False)
