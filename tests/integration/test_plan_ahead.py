"""BEAT_STORE_PLAN_AHEAD: runs recorded a few seconds before their fire time, sent at it, taken back by a save."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from beat_store import store
from beat_store.api import add_schedule, pause_schedule, resume_schedule
from beat_store.dispatch import send_claimed_runs
from beat_store.enums import ExecutionStatus
from beat_store.models import Execution, Schedule
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
