"""Looking for runs in doubt in a real Redis broker, a page at a time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery

from beat_store.models import Execution, Schedule
from beat_store.sending import broker_inspection

pytestmark = pytest.mark.redis


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    app = Celery("inspection-test", broker=redis_url, set_as_current=False)
    yield app
    app.close()


def run_with(task_id: str) -> Execution:
    schedule = Schedule(name="s", task="tests.add", trigger={"type": "interval", "seconds": 60})
    return Execution(schedule=schedule, task_id=task_id)


def test_task_ids_are_found_across_pages_and_others_are_not(app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker_inspection, "PAGE_SIZE", 7)
    queued = [f"queued-{n:02d}" for n in range(20)]
    for task_id in queued:
        app.send_task("tests.add", args=[1, 2], task_id=task_id)

    found = broker_inspection.queued_task_ids(app, [run_with(task_id) for task_id in [*queued[::3], "never-sent"]])

    assert found == set(queued[::3])


def test_a_broker_that_cannot_be_read_says_so() -> None:
    app = Celery("inspection-test", broker="memory://", set_as_current=False)

    assert broker_inspection.queued_task_ids(app, [run_with("any")]) is None
