"""Runs decided ahead and staged in Redis (``BEAT_STORE_PREPARE_AHEAD``), against the real database and Redis.

BeatEngine runs in-process with a clock the test moves: a tick some seconds before a fire time decides the run and
stages its message; the tick at the fire time releases it. Between the two, edits, pauses, deletions, max
instances, deadlines and crashes at each step must still leave every run sent exactly once, or not at all when an
edit says so (docs/spec.md, timing rules 9 and 10). PostgreSQL and MariaDB/MySQL only: on SQLite beat decides runs
at their fire time (``test_engine.py`` covers that path).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import redis
from celery import Celery, signals
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from beat_store import add_schedule, pause_schedule, remove_schedule
from beat_store.engine import BeatEngine
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution, Schedule
from beat_store.runs import STAGED
from beat_store.sending import CelerySender, dispatch, staged_dispatch
from beat_store.sending.staging import Stage
from beat_store.staged_runs import HOLD
from beat_store.testing import ManualClock
from tests.integration.broker import read_messages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]

AHEAD = 20.0


@pytest.fixture(autouse=True)
def _row_locking_database() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("runs are decided ahead only on PostgreSQL and MySQL/MariaDB")


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    app = Celery("staged-test", broker=redis_url, set_as_current=False)
    app.finalize()
    yield app
    app.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def stage(client: redis.Redis) -> Stage:
    return Stage(client)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def _prepare_ahead() -> Iterator[None]:
    with override_settings(BEAT_STORE_PREPARE_AHEAD=AHEAD):
        yield


def engine_of(app: Celery, clock: ManualClock, owner: str = "beat-a") -> BeatEngine:
    return BeatEngine(sender=CelerySender(app), clock=clock, owner=owner, rng=random.Random(7))


def hourly(name: str, **fields: object) -> tuple[Schedule, datetime]:
    """A schedule firing at the top of every hour, and its next fire time."""
    schedule = add_schedule(name, "tests.add", {"type": "cron", "expression": "0 * * * *"}, args=[1, 2], **fields)
    assert schedule.next_fire_at is not None
    return schedule, schedule.next_fire_at


def runs_of(name: str) -> list[Execution]:
    return list(Execution.objects.filter(schedule_name=name).order_by("fire_time", "id"))


def queued_args(app: Celery) -> list[list[object]]:
    """The positional arguments of each message in the default queue, oldest first."""
    client = redis.Redis.from_url(app.conf.broker_url)
    try:
        return [json.loads(_body(raw))[0] for raw in reversed(client.lrange("celery", 0, -1))]
    finally:
        client.close()


def _body(raw: bytes) -> str:
    import base64

    envelope = json.loads(raw)
    return base64.b64decode(envelope["body"]).decode()


def test_a_run_due_soon_is_decided_ahead_and_staged_not_sent(app: Celery, clock: ManualClock, stage: Stage) -> None:
    schedule, fire_time = hourly("ahead")
    clock.set(fire_time - timedelta(seconds=10))

    engine_of(app, clock).tick()

    (run,) = runs_of("ahead")
    assert (run.status, run.fire_time, run.lease_owner) == (S.PENDING, fire_time, STAGED)
    assert run.staged_at is not None
    assert read_messages(app.conf.broker_url) == []
    assert stage.size() == 1
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == fire_time + timedelta(hours=1)


def test_at_its_fire_time_the_staged_message_is_released_and_recorded_sent(
    app: Celery, clock: ManualClock, stage: Stage, client: redis.Redis
) -> None:
    _, fire_time = hourly("released")
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=10))
    engine.tick()

    clock.set(fire_time)
    engine.tick()

    (run,) = runs_of("released")
    assert (run.status, run.sent_at, run.lease_owner) == (S.SENT, fire_time, "")
    (message,) = read_messages(app.conf.broker_url)
    assert (message.task_id, message.schedule_name, message.fire_time) == (run.task_id, "released", fire_time)
    assert queued_args(app) == [[1, 2]]
    assert stage.size() == 0
    assert client.zcard(stage.released_key) == 0  # the journal is cleared once recorded


def test_a_staged_message_is_the_one_the_ordinary_path_would_send(app: Celery, clock: ManualClock) -> None:
    _, fire_time = hourly("same-message", kwargs={"k": "é"}, headers={"trace": "x"}, misfire_grace_time=30)
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=10))
    engine.tick()
    clock.set(fire_time)
    engine.tick()
    client = redis.Redis.from_url(app.conf.broker_url)
    (staged_raw,) = client.lrange("celery", 0, -1)
    client.delete("celery")
    (run,) = runs_of("same-message")

    # The same run sent the ordinary way, at the same moment.
    Execution.objects.filter(pk=run.pk).update(status=S.PENDING, lease_owner="", lease_until=None, staged_at=None)
    fresh = Execution.objects.select_related("schedule").get(pk=run.pk)
    dispatch.send_planned_runs([fresh], app=app, now=fire_time)
    (ordinary_raw,) = client.lrange("celery", 0, -1)
    client.close()

    staged, ordinary = json.loads(staged_raw), json.loads(ordinary_raw)
    for envelope in (staged, ordinary):
        envelope["properties"].pop("delivery_tag")
    # The relative expiry counts from the send time; the ordinary path counts it from the real clock.
    assert staged["properties"].pop("expiration") == "30000"
    ordinary["properties"].pop("expiration")
    assert staged == ordinary


def test_an_edit_before_the_fire_time_withdraws_the_staged_run_and_the_edited_one_is_sent(
    app: Celery, clock: ManualClock, stage: Stage
) -> None:
    schedule, fire_time = hourly("edited")
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()
    (first,) = runs_of("edited")

    schedule = Schedule.objects.get(pk=schedule.pk)
    schedule.args = [40, 2]
    schedule.save()

    assert runs_of("edited") == []  # withdrawn: its row went, its fire time is next again
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == fire_time
    clock.advance(1)
    engine.tick()  # decided again, from the edited row
    clock.set(fire_time)
    engine.tick()

    (run,) = runs_of("edited")
    assert run.pk != first.pk
    assert run.status == S.SENT
    assert queued_args(app) == [[40, 2]]


def soon(name: str, clock: ManualClock) -> datetime:
    """A one-off schedule due 15 s from now (the clock is set to now: edits recompute fire times from the real
    clock, so the test's clock must agree with it)."""
    clock.set(timezone.now())
    fire_time = (clock.now() + timedelta(seconds=15)).replace(microsecond=0)
    add_schedule(name, "tests.add", {"type": "date", "run_at": fire_time.isoformat()}, args=[1, 2])
    return fire_time


def test_a_timing_edit_before_the_fire_time_withdraws_a_fire_time_the_trigger_no_longer_has(
    app: Celery, clock: ManualClock
) -> None:
    fire_time = soon("retimed", clock)
    engine = engine_of(app, clock)
    engine.tick()
    assert len(runs_of("retimed")) == 1

    schedule = Schedule.objects.get(name="retimed")
    schedule.trigger = {"type": "date", "run_at": (fire_time + timedelta(hours=1)).isoformat()}
    schedule.save()
    clock.set(fire_time + timedelta(seconds=1))
    engine.tick()

    assert runs_of("retimed") == []
    assert read_messages(app.conf.broker_url) == []
    assert Schedule.objects.get(name="retimed").next_fire_at == fire_time + timedelta(hours=1)


def test_a_pause_before_the_fire_time_withdraws_the_run(app: Celery, clock: ManualClock) -> None:
    _, fire_time = hourly("paused")
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()

    pause_schedule("paused")
    clock.set(fire_time)
    engine.tick()

    assert runs_of("paused") == []
    assert read_messages(app.conf.broker_url) == []


def test_a_pause_written_without_save_skips_the_staged_run_at_its_fire_time(
    app: Celery, clock: ManualClock, stage: Stage
) -> None:
    _, fire_time = hourly("paused-raw")
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()

    Schedule.objects.filter(name="paused-raw").update(paused=True)
    clock.set(fire_time)
    engine.tick()

    (run,) = runs_of("paused-raw")
    assert (run.status, run.result) == (S.SKIPPED, "schedule paused before the run was sent")
    assert read_messages(app.conf.broker_url) == []
    assert stage.size() == 0


def test_a_schedule_deleted_before_the_fire_time_has_its_run_revoked(app: Celery, clock: ManualClock) -> None:
    _, fire_time = hourly("deleted")
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()

    remove_schedule("deleted")
    clock.set(fire_time)
    engine.tick()

    (run,) = runs_of("deleted")
    assert (run.status, run.result) == (S.REVOKED, "schedule deleted before the run was sent")
    assert read_messages(app.conf.broker_url) == []


def test_a_timing_edit_written_without_save_withdraws_and_plans_from_the_new_timing(
    app: Celery, clock: ManualClock
) -> None:
    fire_time = soon("retimed-raw", clock)
    engine = engine_of(app, clock)
    engine.tick()
    assert len(runs_of("retimed-raw")) == 1

    # The edit trigger (migration 0007) unplans the row; the next tick withdraws its run and plans it again.
    later = fire_time + timedelta(hours=1)
    Schedule.objects.filter(name="retimed-raw").update(trigger={"type": "date", "run_at": later.isoformat()})
    clock.advance(1)
    engine.tick()
    clock.set(fire_time)
    engine.tick()

    assert runs_of("retimed-raw") == []
    assert read_messages(app.conf.broker_url) == []
    assert Schedule.objects.get(name="retimed-raw").next_fire_at == later


def test_an_edit_written_with_updated_at_is_seen_at_release_and_the_run_decided_again(
    app: Celery, clock: ManualClock
) -> None:
    _, fire_time = hourly("edited-raw")
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()
    (staged,) = runs_of("edited-raw")
    assert staged.staged_at is not None

    Schedule.objects.filter(name="edited-raw").update(args=[7, 7], updated_at=staged.staged_at + timedelta(seconds=1))
    clock.set(fire_time)
    engine.tick()  # the staged run is withdrawn; its fire time is due again
    engine.tick()

    (run,) = runs_of("edited-raw")
    assert run.pk != staged.pk
    assert run.status == S.SENT
    assert queued_args(app) == [[7, 7]]


def test_max_instances_are_judged_at_release_not_when_the_run_was_decided(app: Celery, clock: ManualClock) -> None:
    schedule, fire_time = hourly("one-at-a-time", max_instances=1)
    engine = engine_of(app, clock)
    # The previous run is still running when the next one is decided ahead...
    previous = Execution.objects.create(
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=fire_time - timedelta(hours=1),
        send_at=fire_time - timedelta(hours=1),
        task_id="previous",
        status=S.STARTED,
    )
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()
    staged = Execution.objects.get(schedule=schedule, fire_time=fire_time)
    assert staged.status == S.PENDING

    # ...and finished before its fire time: the run goes out.
    Execution.objects.filter(pk=previous.pk).update(status=S.SUCCEEDED)
    clock.set(fire_time)
    engine.tick()

    assert Execution.objects.get(pk=staged.pk).status == S.SENT


def test_a_run_whose_previous_one_still_runs_at_release_is_skipped(app: Celery, clock: ManualClock) -> None:
    schedule, fire_time = hourly("still-running", max_instances=1)
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()
    Execution.objects.create(
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=fire_time - timedelta(hours=1),
        send_at=fire_time - timedelta(hours=1),
        task_id="previous",
        status=S.STARTED,
    )

    clock.set(fire_time)
    engine.tick()

    run = Execution.objects.get(schedule=schedule, fire_time=fire_time)
    assert (run.status, run.result) == (S.SKIPPED, "1 of max 1 instances still running")
    assert read_messages(app.conf.broker_url) == []


def test_a_staged_run_released_after_its_deadline_is_missed_not_sent(app: Celery, clock: ManualClock) -> None:
    _, fire_time = hourly("late", misfire_grace_time=5)
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()

    clock.set(fire_time + timedelta(seconds=30))  # no beat ran at the fire time
    engine.tick()

    (run,) = runs_of("late")
    assert run.status == S.MISSED
    assert read_messages(app.conf.broker_url) == []


def test_a_beat_killed_after_releasing_before_recording_leaves_the_run_sent_once(
    app: Celery, clock: ManualClock, stage: Stage
) -> None:
    _, fire_time = hourly("killed-after-release")
    clock.set(fire_time - timedelta(seconds=15))
    engine_of(app, clock).tick()
    (run,) = runs_of("killed-after-release")

    stage.release([run.pk], now=fire_time)  # the script ran; the beat died before its transaction committed
    clock.set(fire_time + timedelta(seconds=1))
    engine_of(app, clock, owner="beat-b").tick()

    assert Execution.objects.get(pk=run.pk).status == S.SENT
    assert [message.task_id for message in read_messages(app.conf.broker_url)] == [run.task_id]


def test_a_staged_message_lost_by_redis_is_sent_the_ordinary_way(
    app: Celery, clock: ManualClock, stage: Stage, client: redis.Redis
) -> None:
    _, fire_time = hourly("lost-by-redis")
    engine = engine_of(app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()
    client.delete(stage.messages_key, stage.due_key)  # a Redis restarted without persistence

    clock.set(fire_time)
    engine.tick()

    (run,) = runs_of("lost-by-redis")
    assert run.status == S.SENT
    assert [message.task_id for message in read_messages(app.conf.broker_url)] == [run.task_id]


def test_a_staged_run_no_beat_released_in_time_is_taken_back_and_sent_once(
    app: Celery, clock: ManualClock, stage: Stage
) -> None:
    _, fire_time = hourly("held-too-long")
    clock.set(fire_time - timedelta(seconds=15))
    engine_of(app, clock).tick()
    (run,) = runs_of("held-too-long")

    # A beat that only sends the ordinary way (staging off) finds the run once its hold is over.
    later = fire_time + HOLD + timedelta(seconds=1)
    with override_settings(BEAT_STORE_PREPARE_AHEAD=0):
        clock.set(later)
        engine_of(app, clock, owner="beat-b").tick()
    with override_settings(BEAT_STORE_PREPARE_AHEAD=AHEAD):
        engine_of(app, clock, owner="beat-c").tick()  # nothing left to release

    assert Execution.objects.get(pk=run.pk).status == S.SENT
    assert [message.task_id for message in read_messages(app.conf.broker_url)] == [run.task_id]
    assert stage.size() == 0


def test_two_beats_release_a_herd_once(app: Celery, clock: ManualClock) -> None:
    for number in range(30):
        add_schedule(f"herd-{number}", "tests.add", {"type": "cron", "expression": "0 * * * *"})
    fire_time = Schedule.objects.get(name="herd-0").next_fire_at
    assert fire_time is not None
    beats = [engine_of(app, clock, owner="beat-a"), engine_of(app, clock, owner="beat-b")]
    clock.set(fire_time - timedelta(seconds=15))
    with override_settings(BEAT_STORE_BATCH_SIZE=7):
        for beat in beats:
            beat.tick()
        clock.set(fire_time)
        for beat in beats:
            beat.tick()

    task_ids = [message.task_id for message in read_messages(app.conf.broker_url)]
    assert len(task_ids) == len(set(task_ids)) == 30
    assert set(Execution.objects.values_list("status", flat=True)) == {S.SENT}


def test_a_before_task_publish_receiver_sees_the_staged_message_and_its_header_is_released(
    app: Celery, clock: ManualClock
) -> None:
    seen: list[str] = []

    def trace(headers: dict[str, object], **_: object) -> None:
        headers["traceparent"] = f"trace-{len(seen)}"
        seen.append(str(headers["id"]))

    signals.before_task_publish.connect(trace, weak=False)
    try:
        for name in ("traced-a", "traced-b"):
            hourly(name)
        fire_time = Schedule.objects.get(name="traced-a").next_fire_at
        assert fire_time is not None
        engine = engine_of(app, clock)
        clock.set(fire_time - timedelta(seconds=15))
        engine.tick()
        clock.set(fire_time)
        engine.tick()
    finally:
        signals.before_task_publish.disconnect(trace)

    client = redis.Redis.from_url(app.conf.broker_url)
    headers = [json.loads(raw)["headers"] for raw in reversed(client.lrange("celery", 0, -1))]
    client.close()
    assert sorted(h["id"] for h in headers) == sorted(seen)
    assert sorted(h["traceparent"] for h in headers) == ["trace-0", "trace-1"]


def test_without_a_broker_that_can_stage_runs_are_decided_at_their_fire_time(clock: ManualClock) -> None:
    app = Celery("memory-test", broker="memory://", set_as_current=False)
    app.finalize()
    _, fire_time = hourly("memory")
    clock.set(fire_time - timedelta(seconds=15))
    try:
        engine_of(app, clock).tick()
    finally:
        app.close()

    assert runs_of("memory") == []


def test_staged_messages_of_withdrawn_runs_are_cleaned_up(app: Celery, clock: ManualClock, stage: Stage) -> None:
    schedule, fire_time = hourly("orphaned")
    clock.set(fire_time - timedelta(seconds=15))
    engine_of(app, clock).tick()
    schedule = Schedule.objects.get(pk=schedule.pk)
    schedule.description = "edited: the staged run is withdrawn, its message left behind"
    schedule.save()
    pause_schedule("orphaned")
    assert stage.size() == 1

    staged_dispatch.collect_staged_garbage(app=app, now=fire_time)
    assert stage.size() == 1  # not yet: a release may still be on its way
    staged_dispatch.collect_staged_garbage(app=app, now=fire_time + staged_dispatch.GARBAGE_AFTER + HOLD)

    assert stage.size() == 0


def test_a_row_whose_message_cannot_be_built_fails_one_run_once_and_is_paused(app: Celery, clock: ManualClock) -> None:
    schedule = add_schedule("unbuildable", "tests.add", {"type": "interval", "seconds": 5}, args=[1, 2])
    assert schedule.next_fire_at is not None
    Schedule.objects.filter(pk=schedule.pk).update(args={"not": "a list"}, updated_at=schedule.updated_at)
    clock.set(schedule.next_fire_at - timedelta(seconds=10))  # six fire times within the next 20 s

    engine_of(app, clock).tick()

    (run,) = runs_of("unbuildable")
    assert run.status == S.FAILED
    assert run.exception.startswith("beat could not build its message: UnbuildableMessage: args must be a JSON list")
    schedule = Schedule.objects.get(pk=schedule.pk)
    assert schedule.paused
    assert schedule.last_error == run.exception
    assert schedule.next_fire_at == run.fire_time + timedelta(seconds=5)  # the first withdrawn fire time
    assert read_messages(app.conf.broker_url) == []


@pytest.fixture
def rabbitmq_app() -> Iterator[Celery]:
    """A Celery app on the local RabbitMQ (skipped where none runs: RabbitMQ is optional, not a CI service)."""
    app = Celery("rabbitmq-test", broker="amqp://guest:guest@127.0.0.1:5672//", set_as_current=False)
    app.conf.task_default_queue = "beat-store-staged-test"
    app.finalize()
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
            queue = broker.SimpleQueue("beat-store-staged-test")
            queue.clear()
            queue.close()
    except Exception as error:
        app.close()
        pytest.skip(f"RabbitMQ is not reachable on 127.0.0.1:5672: {error}")
    yield app
    app.close()


def test_on_rabbitmq_runs_are_decided_at_their_fire_time_and_sent(rabbitmq_app: Celery, clock: ManualClock) -> None:
    _, fire_time = hourly("on-rabbitmq")
    engine = engine_of(rabbitmq_app, clock)
    clock.set(fire_time - timedelta(seconds=15))
    engine.tick()
    assert runs_of("on-rabbitmq") == []  # nothing decided ahead: this broker has no staging step

    clock.set(fire_time)
    engine.tick()

    (run,) = runs_of("on-rabbitmq")
    assert run.status == S.SENT
    with rabbitmq_app.connection_for_write() as broker:
        queue = broker.SimpleQueue("beat-store-staged-test")
        message = queue.get(timeout=5)
        message.ack()
        queue.close()
    assert message.headers["id"] == run.task_id
