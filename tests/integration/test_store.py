"""Beat's tick against the real database (store.py and executions.py): planning, claiming, leases."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from beat_store import executions, store
from beat_store.api import add_schedule
from beat_store.conf import settings
from beat_store.enums import ExecutionStatus
from beat_store.models import Execution, Schedule
from beat_store.sending.messages import message_options

pytestmark = pytest.mark.django_db

NEVER_AGREE = {
    "type": "and",
    "triggers": [
        {"type": "cron", "day_of_week": "mon", "hour": "9"},
        {"type": "cron", "day_of_week": "tue", "hour": "9"},
    ],
    "max_iterations": 100,  # gives up long before the time budget (see the budget tests below)
}


def test_rows_created_without_save_get_their_first_fire_time_from_beat() -> None:
    now = timezone.now()
    Schedule.objects.bulk_create(
        [
            Schedule(
                name="bulk", task="tests.add", trigger={"type": "interval", "seconds": 30}, trigger_kind="interval"
            ),
            Schedule(name="broken", task="tests.add", trigger={"type": "cron", "minute": "99"}, trigger_kind="cron"),
        ]
    )

    planned = store.plan_new_schedules(now, limit=100)

    bulk, broken = Schedule.objects.get(name="bulk"), Schedule.objects.get(name="broken")
    assert planned == 2
    assert bulk.next_fire_at is not None
    assert broken.paused
    assert "minute" in broken.last_error


def test_a_trigger_that_gives_up_pauses_its_schedule_and_records_why() -> None:
    schedule = add_schedule("stuck", "tests.add", {"type": "interval", "seconds": 60})
    # Written around validation, keeping its next fire time (updated_at: see migration 0007's trigger).
    Schedule.objects.filter(pk=schedule.pk).update(trigger=NEVER_AGREE, trigger_kind="and", updated_at=timezone.now())

    summary = store.plan_due_schedules(schedule.next_fire_at + timedelta(seconds=1), limit=10, rng=random.Random(1))

    stuck = Schedule.objects.get(pk=schedule.pk)
    assert summary.claimed == 1
    assert stuck.paused
    assert "TriggerGaveUp" in stuck.last_error
    assert not Execution.objects.filter(schedule=stuck).exists()


def test_a_trigger_that_gives_up_written_by_a_plain_update_pauses_its_schedule_when_planned_again() -> None:
    schedule = add_schedule("stuck", "tests.add", {"type": "interval", "seconds": 60})
    Schedule.objects.filter(pk=schedule.pk).update(trigger=NEVER_AGREE, trigger_kind="and")

    planned = store.plan_new_schedules(timezone.now(), limit=10)

    stuck = Schedule.objects.get(pk=schedule.pk)
    assert planned == 1
    assert stuck.paused
    assert "TriggerGaveUp" in stuck.last_error


def test_due_schedules_are_recorded_pending_and_advanced_in_one_pass() -> None:
    start = timezone.now() - timedelta(minutes=10)
    schedule = add_schedule(
        "every-minute", "tests.add", {"type": "interval", "minutes": 1}, start_at=start, coalesce="all"
    )
    now = timezone.now()

    summary = store.plan_due_schedules(now, limit=10, rng=random.Random(1))

    advanced = Schedule.objects.get(pk=schedule.pk)
    runs = Execution.objects.filter(schedule=schedule)
    assert summary.recorded == runs.count() == 11
    assert set(runs.values_list("status", flat=True)) == {ExecutionStatus.PENDING, ExecutionStatus.SKIPPED}
    assert advanced.next_fire_at > now
    assert advanced.last_fire_at <= now


def test_two_owners_never_lease_the_same_pending_run() -> None:
    add_schedule(
        "job",
        "tests.add",
        {"type": "interval", "seconds": 60},
        start_at=timezone.now() - timedelta(minutes=5),
        coalesce="all",
        max_instances=100,
    )
    now = timezone.now()
    store.plan_due_schedules(now, limit=10, rng=random.Random(1))

    first = executions.claim_pending_runs(now, owner="beat-a", limit=3)
    second = executions.claim_pending_runs(now, owner="beat-b", limit=100)

    assert len(first) == 3
    assert {run.pk for run in first}.isdisjoint(run.pk for run in second)
    assert len(first) + len(second) == Execution.objects.filter(status=ExecutionStatus.PENDING).count()


def test_an_expired_lease_is_claimed_again() -> None:
    add_schedule(
        "job", "tests.add", {"type": "interval", "seconds": 60}, start_at=timezone.now() - timedelta(seconds=1)
    )
    now = timezone.now()
    store.plan_due_schedules(now, limit=10, rng=random.Random(1))
    (leased,) = executions.claim_pending_runs(now, owner="dead-beat", limit=10)

    later = now + timedelta(hours=1)
    (reclaimed,) = executions.claim_pending_runs(later, owner="survivor", limit=10)

    assert reclaimed.pk == leased.pk
    assert Execution.objects.get(pk=leased.pk).lease_owner == "survivor"


def test_the_planning_beat_gets_its_due_runs_leased_with_ids_and_schedules() -> None:
    """The herd path: runs due now come back from planning ready to send, nobody else may claim them."""
    start = timezone.now() - timedelta(minutes=3)
    job = add_schedule(
        "job", "tests.add", {"type": "interval", "minutes": 1}, start_at=start, coalesce="all", max_instances=10
    )
    later = add_schedule(
        "jittered", "tests.add", {"type": "interval", "minutes": 1}, start_at=timezone.now(), jitter=30
    )
    now = max(s.next_fire_at for s in (job, later))

    summary = store.plan_due_schedules(now, limit=10, rng=random.Random(4), owner="beat-a")

    stored = {run.pk: run for run in Execution.objects.filter(pk__in=[run.pk for run in summary.ready])}
    assert {run.schedule_id for run in summary.ready} == {job.pk}, "the jittered run is not due yet"
    assert len(summary.ready) == 4
    assert all(run.schedule is not None and run.schedule.pk == job.pk for run in summary.ready)
    for run in summary.ready:
        assert stored[run.pk].task_id == run.task_id
        assert stored[run.pk].lease_owner == "beat-a"
        assert stored[run.pk].publish_attempted_at is not None, "a crash from here on leaves the run in doubt"
    assert executions.claim_pending_runs(now, owner="beat-b", limit=100) == []
    jittered = Execution.objects.get(schedule=later)
    assert jittered.lease_owner == ""
    assert jittered.publish_attempted_at is None


def test_a_fire_time_recorded_before_is_neither_recorded_again_nor_sent() -> None:
    schedule = add_schedule(
        "job", "tests.add", {"type": "interval", "minutes": 1}, start_at=timezone.now() - timedelta(seconds=5)
    )
    now = timezone.now()
    store.plan_due_schedules(now, limit=10, rng=random.Random(1), owner="beat-a")
    # A form saved with a stale next_fire_at puts the schedule back on a fire time that already has its record.
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=schedule.next_fire_at)

    again = store.plan_due_schedules(now, limit=10, rng=random.Random(1), owner="beat-b")

    assert again.claimed == 1
    assert again.recorded == 0
    assert again.ready == []
    assert Execution.objects.filter(schedule=schedule).count() == 1
    assert Schedule.objects.get(pk=schedule.pk).next_fire_at > now


def test_a_lease_counts_from_the_clock_not_from_the_ticks_planning_time() -> None:
    """In a long herd the tick's `now` is a minute old: a lease counted from it would be over when written, and
    another beat would send the same runs again."""
    schedule = add_schedule(
        "job", "tests.add", {"type": "interval", "minutes": 1}, start_at=timezone.now() - timedelta(minutes=2)
    )
    long_ago = timezone.now() - timedelta(minutes=1)  # a tick that started planning a minute ago
    assert schedule.next_fire_at <= long_ago

    summary = store.plan_due_schedules(long_ago, limit=10, rng=random.Random(1), owner="busy-beat")

    (run,) = summary.ready
    stored = Execution.objects.get(pk=run.pk)
    assert stored.lease_until > timezone.now() + timedelta(seconds=settings.LEASE_SECONDS / 2)
    assert executions.claim_pending_runs(timezone.now(), owner="other-beat", limit=10) == []


def test_runs_get_their_ids_on_a_database_that_cannot_return_inserted_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SQLite before 3.35 and MySQL have no INSERT ... RETURNING: the new rows are found again by their stamp."""
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL always returns the inserted rows")
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    schedule = add_schedule(
        "job", "tests.add", {"type": "interval", "minutes": 1}, start_at=timezone.now() - timedelta(minutes=2)
    )
    now = timezone.now()

    summary = store.plan_due_schedules(now, limit=10, rng=random.Random(1), owner="beat-a")

    assert len(summary.ready) == 1
    assert {run.pk for run in summary.ready} == set(
        Execution.objects.filter(schedule=schedule, lease_owner="beat-a").values_list("id", flat=True)
    )


@pytest.mark.django_db
@override_settings(
    BEAT_STORE_TASK_DEFAULTS={"tests.*": {"max_instances": 2, "coalesce": "all", "queue": "q", "expires": 60}}
)
def test_task_defaults_fill_what_a_schedule_leaves_unset_when_beat_plans_and_sends() -> None:
    """#13: max_instances and coalesce from BEAT_STORE_TASK_DEFAULTS when planning, queue and expires when
    building the message; a schedule's own value wins."""
    defaulted = add_schedule("defaulted", "tests.add", {"type": "interval", "seconds": 10})
    own = add_schedule("own", "tests.add", {"type": "interval", "seconds": 10}, max_instances=1, queue="own-queue")
    now = timezone.now()

    assert defaulted.max_instances is None
    assert defaulted.timing_policy().max_instances == 2
    assert defaulted.timing_policy().coalesce == "all"
    assert own.timing_policy().max_instances == 1
    run = Execution(schedule=defaulted, schedule_name="defaulted", task="tests.add", fire_time=now, send_at=now)
    options = message_options(defaulted, run, now=now)
    assert options["queue"] == "q"
    assert options["expires"] == now + timedelta(seconds=60)
    own_run = Execution(schedule=own, schedule_name="own", task="tests.add", fire_time=now, send_at=now)
    assert message_options(own, own_run, now=now)["queue"] == "own-queue"
