"""One bad schedule never costs the others, with a real `celery beat` and `celery worker` (docs/spec.md "Limits").

Each case stores what validation would refuse (written around it, as another service or a raw SQL edit could)
or declares it in settings, next to a healthy every-2-seconds schedule, and checks that the healthy one keeps
firing while the bad one is set aside with its reason.
"""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from beat_store import add_schedule
from beat_store.enums import ExecutionStatus
from beat_store.models import Execution, Schedule
from tests.integration.processes import CeleryProcesses, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(180)]

HEALTHY = {"type": "interval", "seconds": 2}
#: Valid, and cheap to validate one member at a time, yet each search for a common fire time walks decades.
WEEK_53_AND = {
    "type": "and",
    "triggers": [{"type": "cron", "week": "53", "hour": "1"}, {"type": "cron", "week": "53", "hour": "2"}],
}


def succeeded(name: str) -> int:
    return Execution.objects.filter(schedule_name=name, status=ExecutionStatus.SUCCEEDED).count()


def write_around_validation(name: str, **columns: object) -> Schedule:
    """A due schedule, then ``columns`` written with a plain UPDATE (``updated_at`` set: a knowing write)."""
    schedule = add_schedule(name, "tests.add", HEALTHY, args=[1, 2])
    Schedule.objects.filter(pk=schedule.pk).update(**columns, next_fire_at=timezone.now(), updated_at=timezone.now())
    return schedule


def test_a_trigger_too_costly_to_evaluate_is_paused_and_the_others_keep_firing(
    celery_processes: CeleryProcesses,
) -> None:
    add_schedule("healthy", "tests.add", HEALTHY, args=[2, 3])
    write_around_validation("costly", trigger=WEEK_53_AND, trigger_kind="and")
    celery_processes.start_worker()
    celery_processes.start_beat()

    wait_until(lambda: succeeded("healthy") >= 4, timeout=60, message="four runs of the healthy schedule")

    costly = Schedule.objects.get(name="costly")
    assert costly.paused
    assert costly.last_error.startswith("TriggerTooSlow: computing the next fire time took more than")
    assert not Execution.objects.filter(schedule_name="costly").exists()


@pytest.mark.parametrize(
    "columns",
    [{"args": {"not": "a list"}}, {"expires": 1e300}, {"kwargs": [1, 2]}],
    ids=["args that are not a list", "expires past any date", "kwargs that are not an object"],
)
def test_a_run_whose_message_cannot_be_built_fails_alone_and_the_rest_of_its_batch_goes_out(
    celery_processes: CeleryProcesses, columns: dict[str, object]
) -> None:
    for index in range(5):
        add_schedule(f"healthy-{index}", "tests.add", HEALTHY, args=[index, 1])
    write_around_validation("unbuildable", **columns)
    celery_processes.start_worker()
    celery_processes.start_beat()

    wait_until(
        lambda: all(succeeded(f"healthy-{index}") >= 2 for index in range(5)),
        timeout=60,
        message="two runs of each healthy schedule",
    )

    runs = list(Execution.objects.filter(schedule_name="unbuildable"))
    assert [run.status for run in runs] == [ExecutionStatus.FAILED]  # once: its schedule is paused
    assert runs[0].exception.startswith("beat could not build its message: ")
    unbuildable = Schedule.objects.get(name="unbuildable")
    assert unbuildable.paused
    assert unbuildable.last_error == runs[0].exception


def test_a_schedules_headers_cannot_override_celerys_own(celery_processes: CeleryProcesses) -> None:
    victim = add_schedule("victim", "tests.add", {"type": "cron", "expression": "0 0 1 1 *"}, args=[0, 0])
    write_around_validation(
        "intruder", headers={"id": "forged", "task": "tests.fail", "beat_store_execution": "1", "team": "ops"}
    )
    celery_processes.start_worker()
    celery_processes.start_beat()

    wait_until(lambda: succeeded("intruder") >= 1, timeout=60, message="a run of the intruder")

    run = Execution.objects.filter(schedule_name="intruder", status=ExecutionStatus.SUCCEEDED).first()
    assert run is not None
    assert run.task == "tests.add"
    assert run.task_id != "forged"
    assert run.result == "3"  # tests.add ran, not tests.fail
    assert not Execution.objects.filter(schedule=victim).exists()


def test_bad_declared_schedules_are_refused_and_logged_and_beat_starts(celery_processes: CeleryProcesses) -> None:
    declared = {
        "declared-healthy": {"task": "tests.add", "trigger": HEALTHY, "args": [4, 4]},
        "never-agrees": {
            "task": "tests.add",
            "trigger": {
                "type": "and",
                "triggers": [{"type": "cron", "hour": "9"}, {"type": "cron", "hour": "10"}],
                "max_iterations": 100,
            },
        },
        "zone-is-a-folder": {"task": "tests.add", "trigger": HEALTHY, "timezone": "Europe"},
        "near-9999": {"task": "tests.add", "trigger": {"type": "date", "run_at": "9999-12-31T23:59:59"}},
        "not-a-dict": ["tests.add"],
    }
    celery_processes.extra_environment["BEAT_STORE_TEST_SCHEDULES"] = json.dumps(declared)
    celery_processes.start_worker()
    beat = celery_processes.start_beat()

    wait_until(lambda: succeeded("declared-healthy") >= 2, timeout=60, message="two runs of the healthy declaration")

    assert beat.poll() is None
    declared_rows = Schedule.objects.exclude(name="celery.backend_cleanup")  # Celery's own, kept by beat_store
    assert list(declared_rows.values_list("name", flat=True)) == ["declared-healthy"]
    log = celery_processes.logs()
    for name in ("never-agrees", "zone-is-a-folder", "near-9999", "not-a-dict"):
        assert f"schedule {name!r} in settings was not synced" in log
