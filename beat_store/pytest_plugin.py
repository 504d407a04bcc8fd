"""pytest fixtures for testing your schedules: registered when beat_store is installed, used only on request.

``beat_store_beat`` ticks a real beat engine on the test's clock against the test database, and sends through
the Celery app of ``beat_store_celery_app`` (Celery's current app unless you override the fixture);
``beat_store_worker`` runs an in-process Celery worker (``celery.contrib.testing``) on that app, so runs are
executed and their records written back as in production. They need pytest-django; a test that uses the
worker needs ``transactional_db`` (the worker thread has a database connection of its own) and a broker the
worker can read in-process, such as ``memory://``. A schedule created during a test fires from the real now;
give it a ``start_at`` to count its fire times from the test's clock instead.

::

    def test_nightly_report_runs_at_half_past_two(beat_store_beat, beat_store_worker):
        beat_store_beat.clock.set(datetime(2026, 12, 3, 12, 0, tzinfo=PARIS))
        add_schedule("nightly", "reports.tasks.build", {"type": "cron", "expression": "30 2 * * *"},
                     timezone="Europe/Paris", start_at=beat_store_beat.clock.now())
        (run,) = beat_store_beat.run_until(datetime(2026, 12, 4, 3, 0, tzinfo=PARIS))
        assert run.fire_time == datetime(2026, 12, 4, 2, 30, tzinfo=PARIS)
        assert run.wait(timeout=10).status == "succeeded"
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def beat_store_clock() -> Any:
    """A :class:`beat_store.testing.ManualClock` at the current time: move it with ``advance`` or ``set``."""
    from beat_store.testing import ManualClock  # imported on use: the plugin loads before Django is set up

    return ManualClock()


@pytest.fixture
def beat_store_celery_app() -> Any:
    """The Celery app beat_store sends through and the in-process worker consumes: Celery's current app."""
    from celery import current_app

    return current_app


@pytest.fixture
def beat_store_beat(db: None, beat_store_clock: Any, beat_store_celery_app: Any) -> Any:
    """A :class:`beat_store.testing.BeatHarness`: ``tick(at=...)`` and ``run_until(moment)``."""
    from beat_store.engine import BeatEngine
    from beat_store.sending import CelerySender
    from beat_store.testing import BeatHarness

    engine = BeatEngine(
        sender=CelerySender(beat_store_celery_app),
        clock=beat_store_clock,
        owner="pytest-beat",
        rng=random.Random(0),  # jitter draws repeat from run to run
    )
    return BeatHarness(engine=engine, clock=beat_store_clock)


@pytest.fixture
def beat_store_worker(transactional_db: None, beat_store_celery_app: Any) -> Iterator[Any]:
    """An in-process Celery worker (one thread, solo pool) consuming the app's broker during the test."""
    from celery.contrib.testing.worker import start_worker

    with start_worker(beat_store_celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker
