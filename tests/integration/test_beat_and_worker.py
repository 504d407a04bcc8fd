"""End to end: a real `celery beat -S beat_store.Scheduler` and a real `celery worker` over Redis.

Rules the engine decides alone (coalescing after a downtime, pauses, several beats taking turns) are tested
in-process in test_engine.py; these are the ones that need real processes, signals and workers.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from beat_store import add_schedule
from beat_store.enums import ExecutionStatus
from beat_store.models import BeatHeartbeat, Execution, Schedule
from tests.integration.processes import CeleryProcesses, wait_for_run, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(180)]

EVERY_SECOND = {"type": "interval", "seconds": 1}


def statuses(name: str) -> list[str]:
    return list(Execution.objects.filter(schedule_name=name).order_by("fire_time").values_list("status", flat=True))


def test_every_second_schedule_runs_through_sent_started_succeeded(celery_processes: CeleryProcesses) -> None:
    add_schedule("add-every-second", "tests.add", EVERY_SECOND, args=[2, 3])
    celery_processes.start_worker()
    celery_processes.start_beat()

    wait_until(
        lambda: (
            Execution.objects.filter(schedule_name="add-every-second", status=ExecutionStatus.SUCCEEDED).count() >= 3
        ),
        timeout=60,
        message="three succeeded executions",
    )

    done = Execution.objects.filter(schedule_name="add-every-second", status=ExecutionStatus.SUCCEEDED)
    for execution in done:
        assert execution.sent_at is not None
        assert execution.started_at is not None
        assert execution.finished_at is not None
        assert execution.sent_at <= execution.started_at <= execution.finished_at
        assert execution.result == "5"
        assert execution.worker.startswith("worker@")
        assert execution.fire_time <= execution.sent_at
    fire_times = list(done.order_by("fire_time").values_list("fire_time", flat=True))
    assert all((later - earlier) % timedelta(seconds=1) == timedelta(0) for earlier, later in pairwise(fire_times))


def test_failing_task_records_exception_and_traceback(celery_processes: CeleryProcesses) -> None:
    add_schedule("always-fails", "tests.fail", EVERY_SECOND, kwargs={"message": "disk on fire"})
    celery_processes.start_worker()
    celery_processes.start_beat()

    failed = wait_for_run("always-fails", ExecutionStatus.FAILED, timeout=60)

    assert failed.exception == "ValueError: disk on fire"
    assert "Traceback" in failed.traceback
    assert "disk on fire" in failed.traceback


def test_retrying_task_ends_succeeded_after_a_retry(celery_processes: CeleryProcesses) -> None:
    done = run_once_to_the_end(celery_processes, "retries", "tests.retry_once", ExecutionStatus.SUCCEEDED)

    assert done.result == "second attempt succeeded"
    assert (done.retries, done.exception, done.traceback) == (1, "", "")  # the retry's debris is gone
    assert Schedule.objects.get(name="retries").is_finished


def test_a_task_that_fails_after_its_retries_records_the_final_exception(celery_processes: CeleryProcesses) -> None:
    failed = run_once_to_the_end(celery_processes, "gives-up", "tests.retry_then_fail", ExecutionStatus.FAILED)

    assert failed.retries == 1
    assert failed.exception == "ConnectionError: upstream down (attempt 2)"
    assert "upstream down (attempt 2)" in failed.traceback
    assert failed.result == ""


def run_once_to_the_end(processes: CeleryProcesses, name: str, task: str, status: str) -> Execution:
    """Schedule ``task`` once, 2 s from now, with a real worker and beat; the run once it reached ``status``."""
    soon = timezone.now() + timedelta(seconds=2)
    add_schedule(name, task, {"type": "date", "run_at": soon.isoformat()})
    processes.start_worker()
    processes.start_beat()
    return wait_for_run(name, status, timeout=60)


def test_edit_while_beat_runs_takes_effect_without_restart(celery_processes: CeleryProcesses) -> None:
    add_schedule("edited", "tests.add", {"type": "date", "run_at": "2099-01-01T00:00:00"}, args=[1, 2])
    celery_processes.start_worker()
    celery_processes.start_beat()
    time.sleep(2)
    assert not Execution.objects.filter(schedule_name="edited").exists()

    schedule = Schedule.objects.get(name="edited")
    schedule.trigger = EVERY_SECOND
    schedule.save()
    edited_at = timezone.now()

    first = wait_until(
        lambda: Execution.objects.filter(schedule_name="edited").order_by("sent_at").first(),
        timeout=30,
        message="a run after the edit",
    )
    wait_until(lambda: Execution.objects.get(pk=first.pk).sent_at, timeout=10, message="the run to be sent")
    assert Execution.objects.get(pk=first.pk).sent_at - edited_at < timedelta(seconds=3)


def test_beat_survives_sigterm_and_a_second_beat_sends_each_run_once(
    celery_processes: CeleryProcesses,
) -> None:
    add_schedule("two-beats", "tests.add", EVERY_SECOND, args=[1, 1])
    celery_processes.start_worker()
    first = celery_processes.start_beat("beat-1")
    celery_processes.start_beat("beat-2")
    wait_until(lambda: Execution.objects.filter(schedule_name="two-beats").count() >= 4, timeout=60)
    celery_processes.stop(first, signal.SIGKILL)
    count = Execution.objects.filter(schedule_name="two-beats").count()

    wait_until(lambda: Execution.objects.filter(schedule_name="two-beats").count() >= count + 3, timeout=30)

    fire_times = list(Execution.objects.filter(schedule_name="two-beats").values_list("fire_time", flat=True))
    assert len(fire_times) == len(set(fire_times))
    task_ids = list(Execution.objects.filter(schedule_name="two-beats").values_list("task_id", flat=True))
    assert len(task_ids) == len(set(task_ids))


def test_worker_with_embedded_beat_runs_schedules(celery_processes: CeleryProcesses) -> None:
    add_schedule("embedded", "tests.add", EVERY_SECOND, args=[20, 22])

    celery_processes.start_worker(
        "worker-with-beat",
        extra_args=("-B", "--scheduler=beat_store.Scheduler", f"--schedule={celery_processes.log_dir / 'unused.db'}"),
    )

    done = wait_until(
        lambda: Execution.objects.filter(schedule_name="embedded", status=ExecutionStatus.SUCCEEDED).first(),
        timeout=60,
        message="a run sent and executed by `celery worker -B -S beat_store.Scheduler`",
    )
    assert done.result == "42"


def test_run_a_worker_picks_up_after_its_start_deadline_is_recorded_missed(
    celery_processes: CeleryProcesses,
) -> None:
    # The beat runs first: a start slower than the one-second grace (a loaded machine) would leave nothing to send.
    celery_processes.start_beat()
    wait_until(lambda: BeatHeartbeat.objects.exists(), timeout=30, message="the beat's first tick")
    soon = timezone.now() + timedelta(seconds=2)
    add_schedule(
        "deadline", "tests.add", {"type": "date", "run_at": soon.isoformat()}, args=[1, 1], misfire_grace_time=1
    )
    sent = wait_until(
        lambda: Execution.objects.filter(schedule_name="deadline", status=ExecutionStatus.SENT).first(),
        timeout=30,
        message="the run to be sent while no worker runs",
    )
    time.sleep(max(0.0, (sent.deadline_at - timezone.now()).total_seconds()) + 1)  # let the deadline pass

    celery_processes.start_worker()

    missed = wait_until(
        lambda: Execution.objects.filter(pk=sent.pk, status=ExecutionStatus.MISSED).first(),
        timeout=30,
        message="the worker to drop the expired message and the record to say missed",
    )
    assert missed.started_at is None
    assert "deadline" in missed.result


def test_max_instances_skips_runs_while_one_is_still_running(celery_processes: CeleryProcesses) -> None:
    add_schedule("slow", "tests.sleep", EVERY_SECOND, args=[3], max_instances=1)
    celery_processes.start_worker(concurrency=4)
    celery_processes.start_beat()

    wait_until(
        lambda: (
            Execution.objects.filter(schedule_name="slow", status=ExecutionStatus.SUCCEEDED).exists()
            and Execution.objects.filter(schedule_name="slow", status=ExecutionStatus.SKIPPED).count() >= 2
        ),
        timeout=60,
        message="a finished run and runs skipped meanwhile",
    )

    runs = list(Execution.objects.filter(schedule_name="slow").order_by("fire_time"))
    skipped = [run for run in runs if run.status == ExecutionStatus.SKIPPED]
    assert all("max" in run.result for run in skipped)
    assert all(run.sent_at is None for run in skipped)
    executing = [run for run in runs if run.status in (ExecutionStatus.STARTED, ExecutionStatus.SUCCEEDED)]
    for earlier, later in pairwise(executing):
        assert later.started_at >= earlier.finished_at, "two runs of the schedule overlapped"


def test_a_worker_sees_a_beat_message_as_it_sees_one_sent_by_apply_async(
    celery_processes: CeleryProcesses, redis_url: str
) -> None:
    """beat_store derives most messages from one ``send_task`` per shape (beat_store.messages); the worker must
    not be able to tell them from a message of ``apply_async`` with the same arguments and options."""
    import json

    import redis

    from tests.celery_app import describe_request

    options = {"queue": "described", "priority": 5, "headers": {"tenant": "acme"}}
    call = {"args": [1, "two"], "kwargs": {"k": [3], "when": None}}
    for name in ("described-1", "described-2", "described-3"):  # several runs of one shape: derived messages
        add_schedule(
            name,
            "tests.describe_request",
            {"type": "date", "run_at": (timezone.now() + timedelta(seconds=2)).isoformat()},
            misfire_grace_time=300,
            queue=options["queue"],
            priority=options["priority"],
            headers=options["headers"],
            **call,
        )
    celery_processes.start_worker(extra_args=("-Q", "described"))
    celery_processes.start_beat()
    with describe_request.app.connection_for_write(redis_url) as connection:
        sent = describe_request.apply_async(
            **call, **options, expires=timezone.now() + timedelta(seconds=300), connection=connection
        )

    client = redis.Redis.from_url(redis_url)

    def described(task_id: str) -> dict | None:
        raw = client.get(f"described:{task_id}")
        return json.loads(raw) if raw else None

    by_apply_async = wait_until(lambda: described(sent.id), timeout=60, message="the apply_async message consumed")
    beat_runs = wait_until(
        lambda: (
            [
                found
                for task_id in Execution.objects.filter(task="tests.describe_request").values_list("task_id", flat=True)
                if (found := described(task_id))
            ]
            if Execution.objects.filter(task="tests.describe_request", status=ExecutionStatus.SUCCEEDED).count() == 3
            else None
        ),
        timeout=60,
        message="three beat runs consumed",
    )
    client.close()

    def comparable(seen: dict) -> dict:
        assert seen["root_id"] == seen["id"] == seen["correlation_id"]
        assert seen["expires"] is not None
        # send_task (what beat_store, like Celery's beat for unknown tasks, builds on) leaves ignore_result
        # unset, apply_async writes the task's False: the worker reads both as "keep the result".
        seen = {**seen, "ignore_result": bool(seen["ignore_result"])}
        return {
            key: value
            for key, value in seen.items()
            if key not in ("id", "root_id", "correlation_id", "expires", "reply_to", "headers")
        }

    for by_beat in beat_runs:
        assert comparable(by_beat) == comparable(by_apply_async)
        assert by_beat["headers"]["tenant"] == "acme"
        assert by_beat["headers"]["beat_store_schedule"].startswith("described-")
    assert by_apply_async["headers"] == {"tenant": "acme", "beat_store_schedule": None}
    assert by_apply_async["delivery_info"] == {"exchange": "", "routing_key": "described", "priority": 5}
