"""What the database itself enforces, on every supported database (run the suite with BEAT_STORE_DATABASE=
sqlite, postgres or mysql): one scheduled run per (schedule, fire time), exact fire times, the due index."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from beat_store.api import add_schedule
from beat_store.db import bulk
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution, Schedule
from tests.integration.records import execution_of

pytestmark = pytest.mark.django_db

FIRE_TIME = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=timezone.utc)


def run_of(schedule: Schedule, fire_time: datetime, *, manual: bool = False, task_id: str = "") -> Execution:
    run = execution_of(schedule, fire_time, S.PENDING, manual=manual)
    run.task_id = task_id or run.task_id
    return run


def test_a_second_scheduled_run_for_one_fire_time_is_refused_by_the_database() -> None:
    schedule = add_schedule("nightly", "tests.add", {"type": "interval", "seconds": 60})
    run_of(schedule, FIRE_TIME).save()

    with pytest.raises(IntegrityError), transaction.atomic():
        run_of(schedule, FIRE_TIME, task_id="second").save()

    assert Execution.objects.filter(schedule=schedule).count() == 1


def test_manual_runs_may_share_a_fire_time_with_a_scheduled_run_and_with_each_other() -> None:
    schedule = add_schedule("nightly", "tests.add", {"type": "interval", "seconds": 60})
    run_of(schedule, FIRE_TIME).save()

    run_of(schedule, FIRE_TIME, manual=True, task_id="manual-1").save()
    run_of(schedule, FIRE_TIME, manual=True, task_id="manual-2").save()

    assert Execution.objects.filter(schedule=schedule, fire_time=FIRE_TIME).count() == 3


def test_fire_times_a_microsecond_apart_are_two_runs_and_read_back_exactly() -> None:
    schedule = add_schedule("fast", "tests.add", {"type": "interval", "seconds": 60})
    later = FIRE_TIME + timedelta(microseconds=1)
    run_of(schedule, FIRE_TIME).save()
    run_of(schedule, later).save()

    stored = list(Execution.objects.filter(schedule=schedule).order_by("fire_time").values_list("fire_time", flat=True))

    assert stored == [FIRE_TIME, later]


def test_the_bulk_insert_skips_the_rows_the_unique_key_refuses_and_returns_the_new_ones() -> None:
    schedule = add_schedule("herd", "tests.add", {"type": "interval", "seconds": 60})
    run_of(schedule, FIRE_TIME).save()
    stamp = FIRE_TIME + timedelta(seconds=1)
    fire_times = [FIRE_TIME, FIRE_TIME + timedelta(microseconds=1), FIRE_TIME + timedelta(minutes=1)]
    runs = [run_of(schedule, moment) for moment in fire_times]

    new_ids = bulk.insert_new_rows(
        Execution,
        runs,
        fields=[
            field.name
            for field in Execution._meta.concrete_fields
            if not field.primary_key and field.name not in ("created_at", "updated_at")
        ],
        constants=[],
        stamp_fields=["created_at", "updated_at"],
        stamp=stamp,
        key="task_id",
    )

    assert set(new_ids) == {runs[1].task_id, runs[2].task_id}
    stored = dict(Execution.objects.filter(schedule=schedule).values_list("task_id", "pk"))
    assert {key: stored[key] for key in new_ids} == new_ids
    assert Execution.objects.get(pk=new_ids[runs[2].task_id]).fire_time == fire_times[2]


def test_the_system_checks_pass_on_this_database_without_warnings_about_skipped_indexes() -> None:
    call_command("check", "beat_store", fail_level="WARNING")


def test_the_due_query_finds_due_unpaused_schedules_only() -> None:
    now = datetime.now(timezone.utc)
    due = add_schedule("due", "tests.add", {"type": "interval", "seconds": 60})
    paused = add_schedule("paused", "tests.add", {"type": "interval", "seconds": 60})
    Schedule.objects.filter(pk__in=[due.pk, paused.pk]).update(next_fire_at=now - timedelta(seconds=1))
    Schedule.objects.filter(pk=paused.pk).update(paused=True)

    assert list(Schedule.objects.due(now).values_list("name", flat=True)) == ["due"]
    assert connection.vendor in ("sqlite", "postgresql", "mysql")


@pytest.mark.django_db(transaction=True)
def test_migrating_from_0001_upward_keeps_the_history_and_then_enforces_one_run_per_fire_time() -> None:
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("beat_store")
    try:
        executor.migrate([("beat_store", "0001_initial")])
        old_apps = executor.loader.project_state([("beat_store", "0001_initial")]).apps
        old_schedule = old_apps.get_model("beat_store", "Schedule").objects.create(
            name="old", task="tests.add", trigger={"type": "interval", "seconds": 60}, trigger_kind="interval"
        )
        old_execution = old_apps.get_model("beat_store", "Execution")
        for task_id, manual in (("scheduled", False), ("manual", True)):
            old_execution.objects.create(
                schedule=old_schedule,
                schedule_name="old",
                task="tests.add",
                fire_time=FIRE_TIME,
                send_at=FIRE_TIME,
                task_id=task_id,
                status=S.SUCCEEDED,
                manual=manual,
            )

        executor = MigrationExecutor(connection)
        executor.migrate(latest)
    finally:
        MigrationExecutor(connection).migrate(latest)
    schedule = Schedule.objects.get(name="old")

    assert set(Execution.objects.filter(schedule=schedule).values_list("task_id", flat=True)) == {"scheduled", "manual"}
    with pytest.raises(IntegrityError), transaction.atomic():
        run_of(schedule, FIRE_TIME, task_id="again").save()
