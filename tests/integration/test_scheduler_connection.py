"""The beat's database connection lives from tick to tick, and a broken one is replaced without an error tick."""

from __future__ import annotations

import pytest
from django.db import connection

from beat_store.engine import MAX_ERROR_BACKOFF
from beat_store.scheduler import Scheduler

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scheduler() -> Scheduler:
    from tests.celery_app import app

    return Scheduler(app)


def test_a_beat_keeps_its_connection_between_ticks(scheduler: Scheduler) -> None:
    """With Django's default CONN_MAX_AGE = 0, close_old_connections() would reconnect on every tick."""
    scheduler.tick()
    first = connection.connection

    scheduler.tick()

    assert first is not None
    assert connection.connection is first


def test_a_connection_that_broke_while_the_beat_slept_is_replaced(scheduler: Scheduler) -> None:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server connection that can break (it reports its file always usable)")
    scheduler.tick()
    broken = connection.connection
    broken.close()  # the server went away while the beat slept

    sleep = scheduler.tick()

    assert connection.connection is not broken
    assert sleep < MAX_ERROR_BACKOFF
    assert scheduler._start_engine().error_backoff == 0.0, "no database-error back-off"
