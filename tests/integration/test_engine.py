"""BeatEngine in-process against the real database and Redis, with a clock the test moves.

What used to need a real `celery beat` subprocess and real seconds of waiting (coalescing after a downtime, a
pause, an edit, several beats) is decided here tick by tick. The subprocess tests in test_beat_and_worker.py
and test_high_availability.py keep what only real processes show (signals, SIGKILL, a real worker).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from celery import Celery
from django.test import override_settings
from django.utils import timezone

from beat_store import add_schedule, pause_schedule
from beat_store.engine import BeatEngine
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution, Schedule
from beat_store.sending import CelerySender
from beat_store.testing import BeatHarness, ManualClock
from tests.integration.broker import read_messages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]


@pytest.fixture(autouse=True)
def _decide_at_the_fire_time() -> Iterator[None]:
    """These tests follow the path that decides each run at its fire time (SQLite's, RabbitMQ's, and the one a
    staged run falls back to); deciding ahead, on by default elsewhere, has its own tests (test_staged_runs.py)."""
    with override_settings(BEAT_STORE_PREPARE_AHEAD=0):
        yield


def set_to_next_fire_time_of(clock: ManualClock, name: str) -> datetime:
    """Now is the schedule's next fire time (created a moment ago, its first fire time is due)."""
    next_fire_at = Schedule.objects.get(name=name).next_fire_at
    assert next_fire_at is not None
    clock.set(next_fire_at)
    return next_fire_at


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    app = Celery("engine-test", broker=redis_url, set_as_current=False)
    app.finalize()
    yield app
    app.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def engine_of(app: Celery, clock: ManualClock, owner: str = "beat-a") -> BeatEngine:
    return BeatEngine(sender=CelerySender(app), clock=clock, owner=owner, rng=random.Random(7))


def queued_task_ids(app: Celery) -> list[str]:
    """Task ids of the messages waiting in the broker's default queue, in push order."""
    return [message.task_id for message in read_messages(app.conf.broker_url)]


def fire_times(name: str) -> list[datetime]:
    return list(Execution.objects.filter(schedule_name=name).order_by("fire_time").values_list("fire_time", flat=True))


def test_a_due_run_is_recorded_sent_and_its_message_is_in_the_broker(app: Celery, clock: ManualClock) -> None:
    add_schedule("every-ten", "tests.add", {"type": "interval", "seconds": 10}, args=[1, 2])
    set_to_next_fire_time_of(clock, "every-ten")

    engine_of(app, clock).tick()

    (execution,) = Execution.objects.filter(schedule_name="every-ten")
    assert execution.status == S.SENT
    assert execution.sent_at is not None
    assert queued_task_ids(app) == [execution.task_id]


@pytest.fixture
def beat_store_celery_app(app: Celery) -> Celery:
    """The plugin's beat (``beat_store_beat``) sends through this module's Redis app."""
    return app


@pytest.mark.parametrize(
    ("policy", "expected_offsets"),
    [("all", [0, 2, 4, 6]), ("earliest", [0, 2]), ("latest", [0, 6])],
    ids=["all: every missed fire time runs", "earliest: only the first", "latest: only the last"],
)
def test_after_a_downtime_each_coalesce_policy_decides_its_runs(
    beat_store_beat: BeatHarness, policy: str, expected_offsets: list[int]
) -> None:
    schedule = add_schedule(f"coalesce-{policy}", "tests.add", {"type": "interval", "seconds": 2}, coalesce=policy)
    first = set_to_next_fire_time_of(beat_store_beat.clock, schedule.name)
    before_downtime = beat_store_beat.tick()  # the first fire time, then three pass while no beat runs

    after_downtime = beat_store_beat.tick(at=first + timedelta(seconds=7))

    assert [run.fire_time for run in before_downtime + after_downtime] == [
        first + timedelta(seconds=offset) for offset in expected_offsets
    ]
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == first + timedelta(seconds=8)


def test_a_paused_schedule_sends_nothing_more(app: Celery, clock: ManualClock) -> None:
    add_schedule("paused-later", "tests.add", {"type": "interval", "seconds": 1})
    set_to_next_fire_time_of(clock, "paused-later")
    engine = engine_of(app, clock)
    engine.tick()
    sent_before_pause = len(fire_times("paused-later"))

    pause_schedule("paused-later")
    for _ in range(5):
        clock.advance(1)
        engine.tick()

    assert sent_before_pause == 1
    assert len(fire_times("paused-later")) == sent_before_pause


def test_an_edit_is_seen_at_the_next_tick(app: Celery, clock: ManualClock) -> None:
    add_schedule("edited", "tests.add", {"type": "date", "run_at": "2099-01-01T00:00:00"})
    engine = engine_of(app, clock)
    engine.tick()
    assert fire_times("edited") == []

    schedule = Schedule.objects.get(name="edited")
    schedule.trigger = {"type": "interval", "seconds": 1}
    schedule.save()
    clock.set(timezone.now() + timedelta(seconds=1))
    engine.tick()

    assert len(fire_times("edited")) == 1


def test_a_herd_larger_than_a_batch_goes_out_in_one_tick(app: Celery, clock: ManualClock) -> None:
    for number in range(12):
        add_schedule(f"herd-{number}", "tests.add", {"type": "cron", "expression": "* * * * *"})
    set_to_next_fire_time_of(clock, "herd-11")  # the last created: its minute is every row's or later

    with override_settings(BEAT_STORE_BATCH_SIZE=5):
        engine_of(app, clock).tick()

    assert Execution.objects.filter(status=S.SENT).count() == 12
    assert len(set(queued_task_ids(app))) == 12


def test_two_engines_ticking_in_turn_send_each_fire_time_once(app: Celery, clock: ManualClock) -> None:
    for number in range(5):
        # No worker runs here, so every run stays open: room for all of them.
        add_schedule(f"shared-{number}", "tests.add", {"type": "interval", "seconds": 1}, max_instances=10)
    set_to_next_fire_time_of(clock, "shared-4")
    engines = [engine_of(app, clock, owner="beat-a"), engine_of(app, clock, owner="beat-b")]

    for step in range(6):
        engines[step % 2].tick()
        clock.advance(1)

    task_ids = queued_task_ids(app)
    assert len(task_ids) == len(set(task_ids)) == Execution.objects.count() == 5 * 6
    assert set(Execution.objects.values_list("status", flat=True)) == {S.SENT}


def test_runs_with_no_news_from_a_worker_are_marked_lost(app: Celery, clock: ManualClock) -> None:
    add_schedule("silent", "tests.add", {"type": "interval", "seconds": 3600})
    set_to_next_fire_time_of(clock, "silent")
    engine_of(app, clock).tick()
    (run,) = Execution.objects.filter(schedule_name="silent")
    assert run.status == S.SENT
    clock.advance(2)

    with override_settings(BEAT_STORE_LOST_AFTER=1):
        engine_of(app, clock, owner="beat-b").tick()

    run.refresh_from_db()
    assert run.status == S.LOST
    assert run.result == "no news from a worker for 1 s"
