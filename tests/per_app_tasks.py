"""A task module declaring its app's schedule with Celery's ``add_periodic_task`` (docs/howto "Declare schedules
per app"). Imported by the test beat only when ``BEAT_STORE_TEST_PER_APP_TASKS`` is set (tests/settings.py)."""

from __future__ import annotations

from typing import Any

from celery import Celery

from tests.celery_app import add, app


@app.on_after_finalize.connect
def declare_per_app_schedule(sender: Celery, **kwargs: Any) -> None:
    sender.add_periodic_task(2.0, add.s(5, 6), name="per-app add")


@app.on_after_configure.connect
def too_late_to_declare(sender: Celery, **kwargs: Any) -> None:
    # Never called under beat: Celery reads the configuration (and sends on_after_configure) before it imports
    # the task modules. The how-to says so; the beat test checks it.
    sender.add_periodic_task(2.0, add.s(0, 0), name="per-app too late")
