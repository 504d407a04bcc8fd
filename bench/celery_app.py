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
