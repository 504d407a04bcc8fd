"""BEAT_STORE_PLAN_AHEAD: runs recorded a few seconds before their fire time, sent at it, taken back by a save."""

from __future__ import annotations

import random
import signal
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from beat_store import store
from beat_store.api import add_schedule, pause_schedule, resume_schedule
from beat_store.dispatch import send_claimed_runs, send_planned_runs
from beat_store.enums import ExecutionStatus
from beat_store.models import Execution, Schedule
from tests.integration.broker import read_messages
from tests.integration.processes import CeleryProcesses, wait_until

pytestmark = pytest.mark.django_db

AHEAD = 10.0
EVERY_MINUTE = {"type": "interval", "minutes": 1}


def plan_ahead(now=None):  # type: ignore[no-untyped-def]
    return store.plan_due_schedules(now or timezone.now(), limit=100, rng=random.Random(1), owner="beat-a", ahead=AHEAD)


def schedule_firing_in(seconds: float, **fields):  # type: ignore[no-untyped-def]
    return add_schedule(
        "soon", "tests.add", EVERY_MINUTE, start_at=timezone.now() + timedelta(seconds=seconds), args=[1, 2], **fields
    )


def test_a_run_due_within_the_window_is_recorded_now_and_sent_at_its_fire_time() -> None:
    schedule = schedule_firing_in(5)
    fire_time = schedule.next_fire_at

    summary = plan_ahead()

    run = Execution.objects.get(schedule=schedule)
    assert summary.ready == [], "nothing is sent before its fire time"
    assert (run.fire_time, run.send_at, run.status) == (fire_time, fire_time, ExecutionStatus.PENDING)
    assert run.lease_owner == ""
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == fire_time + timedelta(minutes=1)
    assert store.claim_pending_runs(timezone.now(), owner="beat-b", limit=10) == []
    (claimed,) = store.claim_pending_runs(fire_time, owner="beat-b", limit=10)
    assert claimed.pk == run.pk


def test_a_run_beyond_the_window_is_not_planned_yet() -> None:
    schedule = schedule_firing_in(AHEAD + 30)

    assert plan_ahead().recorded == 0
    assert not Execution.objects.filter(schedule=schedule).exists()


def test_a_run_max_instances_would_skip_is_left_for_its_fire_time() -> None:
    """The runs holding the slots may finish before the fire time: decide then, not ahead."""
    schedule = schedule_firing_in(5, max_instances=1)
    Execution.objects.create(
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=timezone.now() - timedelta(minutes=1),
        send_at=timezone.now() - timedelta(minutes=1),
        task_id="still-running",
        status=ExecutionStatus.STARTED,
    )
    next_fire_at = schedule.next_fire_at

    plan_ahead()

    assert Execution.objects.filter(schedule=schedule).count() == 1
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == next_fire_at


@override_settings(BEAT_STORE_PLAN_AHEAD=AHEAD)
def test_saving_a_schedule_takes_back_its_run_planned_ahead() -> None:
    schedule = schedule_firing_in(5)
    fire_time = schedule.next_fire_at
    plan_ahead()

    edited = Schedule.objects.get(pk=schedule.pk)
    edited.args = [40, 2]
    edited.save()

    assert not Execution.objects.filter(schedule=schedule).exists()
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == fire_time, "the fire time is to be decided again"
    plan_ahead()
    assert Execution.objects.get(schedule=schedule).fire_time == fire_time


@override_settings(BEAT_STORE_PLAN_AHEAD=AHEAD)
def test_a_pause_takes_back_the_run_and_a_catching_up_resume_runs_it() -> None:
    schedule = schedule_firing_in(5, coalesce="all")
    fire_time = schedule.next_fire_at
    plan_ahead()

    pause_schedule("soon")

    assert not Execution.objects.filter(schedule=schedule).exists()
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == fire_time
    resume_schedule("soon", resume_from=None)
    plan_ahead(fire_time + timedelta(seconds=1))
    assert Execution.objects.get(schedule=schedule).fire_time == fire_time


@override_settings(BEAT_STORE_PLAN_AHEAD=AHEAD)
def test_a_trigger_edit_takes_back_the_run_and_follows_the_new_trigger() -> None:
    schedule = schedule_firing_in(5)
    plan_ahead()

    edited = Schedule.objects.get(pk=schedule.pk)
    edited.trigger = {"type": "interval", "hours": 1}
    edited.save()

    assert not Execution.objects.filter(schedule=schedule).exists()
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at >= timezone.now()


def test_a_run_whose_schedule_was_paused_without_save_is_closed_not_sent() -> None:
    from tests.celery_app import app

    schedule = schedule_firing_in(1)
    plan_ahead()
    Schedule.objects.filter(pk=schedule.pk).update(paused=True)  # QuerySet.update(): no save, nothing taken back
    (claimed,) = store.claim_pending_runs(schedule.next_fire_at + timedelta(seconds=1), owner="beat-b", limit=10)

    assert send_claimed_runs([claimed], app=app, now=timezone.now()) == 0

    run = Execution.objects.get(pk=claimed.pk)
    assert run.status == ExecutionStatus.SKIPPED
    assert "paused" in run.result


def hold_ahead(now=None, *, owner="beat-a", hold=100):  # type: ignore[no-untyped-def]
    return store.plan_due_schedules(
        now or timezone.now(), limit=100, rng=random.Random(1), owner=owner, ahead=AHEAD, hold=hold
    )


def test_the_planning_beat_holds_its_runs_until_shortly_after_their_send_time() -> None:
    schedule = schedule_firing_in(5)
    fire_time = schedule.next_fire_at

    summary = hold_ahead()

    (held,) = summary.held
    stored = Execution.objects.get(pk=held.pk)
    assert (stored.lease_owner, stored.lease_until) == (
        "beat-a",
        fire_time + timedelta(seconds=store.HOLD_PAST_SEND_TIME),
    )
    assert stored.publish_attempted_at is None
    assert summary.ready == []
    assert store.claim_pending_runs(fire_time + timedelta(seconds=1), owner="beat-b", limit=10) == [], "held"
    assert store.next_work_at(timezone.now()) is None or store.next_work_at(timezone.now()) > fire_time


def test_held_runs_beyond_the_limit_are_left_for_any_beat() -> None:
    for number in range(3):
        add_schedule(f"soon-{number}", "tests.add", EVERY_MINUTE, start_at=timezone.now() + timedelta(seconds=5))

    summary = hold_ahead(hold=2)

    assert len(summary.held) == 2
    assert Execution.objects.filter(lease_owner="").count() == 1


def test_a_held_run_is_confirmed_once_and_marked_as_being_published() -> None:
    schedule_firing_in(5)
    (held,) = hold_ahead().held

    (confirmed,) = store.confirm_held_runs([held], owner="beat-a")

    stored = Execution.objects.get(pk=held.pk)
    assert confirmed is held
    assert stored.publish_attempted_at is not None
    assert stored.publish_attempted_at == held.publish_attempted_at
    assert stored.lease_until > timezone.now() + timedelta(seconds=20), "leased for sending, a full lease"
    assert store.confirm_held_runs([held], owner="beat-a") == [], "a second confirmation finds it taken"


def test_a_held_run_taken_by_another_beat_after_its_hold_is_not_confirmed() -> None:
    schedule = schedule_firing_in(1)
    (held,) = hold_ahead().held
    after_hold = schedule.next_fire_at + timedelta(seconds=store.HOLD_PAST_SEND_TIME + 1)
    (claimed,) = store.claim_pending_runs(after_hold, owner="beat-b", limit=10)

    assert claimed.pk == held.pk
    assert store.confirm_held_runs([held], owner="beat-a") == []


@override_settings(BEAT_STORE_PLAN_AHEAD=AHEAD)
def test_a_save_takes_back_a_held_run_before_its_send_time_and_the_beat_sends_nothing() -> None:
    schedule = schedule_firing_in(5)
    fire_time = schedule.next_fire_at
    (held,) = hold_ahead().held

    pause_schedule("soon")

    assert not Execution.objects.filter(pk=held.pk).exists()
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == fire_time
    assert store.confirm_held_runs([held], owner="beat-a") == []


@override_settings(BEAT_STORE_PLAN_AHEAD=AHEAD)
def test_a_save_after_the_beat_confirmed_its_held_run_leaves_it_to_be_sent() -> None:
    schedule = schedule_firing_in(5)
    (held,) = hold_ahead().held
    store.confirm_held_runs([held], owner="beat-a")

    edited = Schedule.objects.get(pk=schedule.pk)
    edited.args = [40, 2]
    edited.save()

    assert Execution.objects.filter(pk=held.pk, status=ExecutionStatus.PENDING).exists()


def test_a_held_run_of_a_schedule_paused_or_deleted_without_save_is_closed_not_sent() -> None:
    from tests.celery_app import app

    paused = schedule_firing_in(5)
    deleted = add_schedule("doomed", "tests.add", EVERY_MINUTE, start_at=paused.start_at)
    held = hold_ahead().held
    assert len(held) == 2
    Schedule.objects.filter(pk=paused.pk).update(paused=True)  # QuerySet.update(): no save, nothing taken back
    Schedule.objects.filter(pk=deleted.pk).delete()

    runs = store.confirm_held_runs(held, owner="beat-a")

    assert send_planned_runs(runs, app=app, now=timezone.now()) == 0
    statuses = dict(Execution.objects.filter(pk__in=[run.pk for run in held]).values_list("schedule_name", "status"))
    assert statuses == {"soon": ExecutionStatus.SKIPPED, "doomed": ExecutionStatus.REVOKED}


@pytest.mark.redis
@pytest.mark.timeout(120)
def test_a_beat_planning_ahead_sends_every_run_at_its_fire_time_never_before(
    celery_processes: CeleryProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEAT_STORE_PLAN_AHEAD", "3")
    add_schedule("ahead", "tests.add", {"type": "interval", "seconds": 2}, args=[2, 3])
    celery_processes.start_worker()
    celery_processes.start_beat()

    wait_until(
        lambda: Execution.objects.filter(schedule_name="ahead", status=ExecutionStatus.SUCCEEDED).count() >= 4,
        timeout=60,
        message="four runs succeeded",
    )

    runs = list(Execution.objects.filter(schedule_name="ahead", status=ExecutionStatus.SUCCEEDED))
    for run in runs:
        assert run.sent_at >= run.fire_time, "a run planned ahead is never sent early"
        assert run.created_at < run.fire_time or run is runs[-1], "and it was recorded before its fire time"
        assert run.result == "5"


@pytest.mark.redis
@pytest.mark.timeout(120)
def test_runs_held_by_a_beat_killed_before_their_fire_time_go_out_once_from_another_beat(
    celery_processes: CeleryProcesses, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEAT_STORE_PLAN_AHEAD", "8")
    fire_at = (timezone.now() + timedelta(seconds=10)).replace(microsecond=0)
    names = [f"held-{number}" for number in range(20)]
    for name in names:
        add_schedule(name, "tests.add", {"type": "date", "run_at": fire_at.isoformat()}, args=[1, 1], timezone="UTC")
    planner = celery_processes.start_beat("planner")
    wait_until(
        lambda: (
            Execution.objects.filter(schedule_name__in=names, lease_owner__contains=f":{planner.pid}:").count()
            == len(names)
        ),
        timeout=30,
        message="the planner to hold every run before the fire time",
    )
    assert timezone.now() < fire_at, "the runs were held ahead of their fire time"
    celery_processes.stop(planner, signal.SIGKILL)
    celery_processes.start_beat("survivor")

    wait_until(
        lambda: Execution.objects.filter(schedule_name__in=names, status=ExecutionStatus.SENT).count() == len(names),
        timeout=40,
        message="the survivor to send the dead planner's runs",
    )

    runs = list(Execution.objects.filter(schedule_name__in=names))
    assert len(runs) == len(names)
    hold = timedelta(seconds=store.HOLD_PAST_SEND_TIME)
    for run in runs:
        assert fire_at <= run.sent_at <= fire_at + hold + timedelta(seconds=5), "late by the hold, not a lease"
    messages = read_messages(redis_url)
    assert sorted(message.task_id for message in messages) == sorted(run.task_id for run in runs), "once each"


def test_a_beat_stopped_cleanly_hands_its_held_runs_to_any_beat_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import connection

    from beat_store.scheduler import Scheduler
    from tests.celery_app import app

    monkeypatch.setattr(connection, "close", lambda: None)  # the test's transaction outlives the beat

    first, second = schedule_firing_in(5), add_schedule("taken", "tests.add", EVERY_MINUTE)
    beat = Scheduler(app=app, lazy=True)
    second.next_fire_at = first.next_fire_at
    Schedule.objects.filter(pk=second.pk).update(next_fire_at=first.next_fire_at)
    beat._held = hold_ahead(owner=beat.owner).held
    assert len(beat._held) == 2
    taken = Execution.objects.get(schedule=second)
    Execution.objects.filter(pk=taken.pk).update(lease_owner="beat-b")  # another beat took this one meanwhile

    beat.close()

    released = Execution.objects.get(schedule=first)
    assert released.lease_owner == ""
    assert released.lease_until <= timezone.now()
    assert Execution.objects.get(pk=taken.pk).lease_owner == "beat-b", "only its own runs"
    assert beat._held == []
