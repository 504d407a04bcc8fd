"""beat_store's pytest plugin as a user's test suite would use it: a beat ticked on the test's clock, an
in-process worker, and next-fire-time assertions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import Celery

from beat_store import add_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.testing import BeatHarness, ManualClock, assert_next_fire_times

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def beat_store_celery_app() -> Iterator[Celery]:
    """Overrides the plugin's fixture, as a project would: an app whose in-memory broker the worker reads."""
    app = Celery("plugin-test", broker="memory://", set_as_current=False)
    app.conf.task_always_eager = False

    @app.task(name="tests.add", shared=False)
    def add(x: int, y: int) -> int:
        return x + y

    app.finalize()
    yield app
    app.close()


def test_the_plugin_is_registered_by_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("beat_store")


def test_run_until_ticks_each_fire_time_across_a_dst_change(
    beat_store_beat: BeatHarness, beat_store_clock: ManualClock
) -> None:
    start = datetime(2026, 3, 27, 12, 0, tzinfo=PARIS)
    beat_store_clock.set(start)
    # start_at: the schedule's first fire time is counted from the test's moment, not from the real now.
    add_schedule(
        "half-past-two",
        "tests.add",
        {"type": "cron", "expression": "30 2 * * *"},
        timezone="Europe/Paris",
        start_at=start,
        max_instances=10,  # no worker here: runs stay open
    )

    runs = beat_store_beat.run_until(datetime(2026, 3, 30, 12, 0, tzinfo=PARIS))

    # 29 March 2026: Paris skips from 02:00 to 03:00, so that day's run is at 03:00 (spec rule 6).
    assert [run.fire_time.astimezone(PARIS) for run in runs] == [
        datetime(2026, 3, 28, 2, 30, tzinfo=PARIS),
        datetime(2026, 3, 29, 3, 0, tzinfo=PARIS),
        datetime(2026, 3, 30, 2, 30, tzinfo=PARIS),
    ]


def test_assert_next_fire_times_passes_and_fails_with_both_lists(db: None) -> None:
    schedule = add_schedule("every-90s", "tests.add", {"type": "interval", "seconds": 90})
    assert schedule.next_fire_at is not None
    first = schedule.next_fire_at

    assert_next_fire_times(schedule, [first, first + timedelta(seconds=90)])
    assert_next_fire_times(
        {"type": "cron", "expression": "0 9 * * 1"},
        [datetime(2026, 12, 7, 9, tzinfo=PARIS)],
        after=datetime(2026, 12, 3, tzinfo=PARIS),
        timezone="Europe/Paris",
    )
    with pytest.raises(AssertionError, match=r"expected .*\n  actual"):
        assert_next_fire_times("every-90s", [first + timedelta(seconds=1)])


def test_a_run_sent_by_the_beat_is_executed_by_the_in_process_worker(
    beat_store_beat: BeatHarness, beat_store_worker: object
) -> None:
    add_schedule("add-two-and-three", "tests.add", {"type": "interval", "seconds": 60}, args=[2, 3])

    (run,) = beat_store_beat.run_until(beat_store_beat.clock.now() + timedelta(seconds=1))

    finished = run.wait(timeout=15)
    assert finished.status == S.SUCCEEDED
    assert finished.result == "5"
    assert finished.sent_at is not None
    assert finished.started_at is not None
