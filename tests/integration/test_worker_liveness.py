"""Started runs whose worker is gone become lost within minutes (#14 point 2)."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from datetime import timedelta

import pytest
from django.utils import timezone

from beat_store import executions
from beat_store.api import add_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution
from beat_store.worker_liveness import MISSES_BEFORE_LOST, WorkerLiveness
from tests.integration.processes import CeleryProcesses, wait_for_run, wait_until
from tests.integration.records import execution_of


class ScriptedWorkers:
    """Answers ``active_task_ids`` from a script: one answer per check."""

    def __init__(self, *answers: Mapping[str, set[str]]) -> None:
        self.answers = list(answers)

    def active_task_ids(self) -> Mapping[str, set[str]]:
        return self.answers.pop(0)


def started_run(name: str, worker: str) -> Execution:
    schedule = add_schedule(name, "tests.sleep", {"type": "interval", "seconds": 60})
    run = execution_of(schedule, timezone.now(), S.STARTED, worker=worker)
    run.save()
    return run


def check_times(liveness: WorkerLiveness, count: int) -> None:
    """``count`` checks, each asking the workers and judging their answer."""
    for step in range(count + 1):
        liveness.check(now=timezone.now(), monotonic=1000.0 * step)
        if liveness._asking is not None:
            liveness._asking.join(5)


@pytest.mark.django_db
def test_a_run_its_worker_stops_listing_is_lost_after_the_misses_and_one_listing_resets_the_count() -> None:
    gone = started_run("gone", "w1@host")
    busy = started_run("busy", "w2@host")
    answers = [{"w1@host": set(), "w2@host": set()}] * (MISSES_BEFORE_LOST - 1)
    answers += [{"w1@host": set(), "w2@host": {busy.task_id}}]  # the busy worker answers once in time
    answers += [{"w1@host": set(), "w2@host": set()}] * 2
    liveness = WorkerLiveness(ScriptedWorkers(*answers))

    check_times(liveness, len(answers))
    gone.refresh_from_db()
    busy.refresh_from_db()

    assert (gone.status, gone.result) == (S.LOST, "its worker no longer runs it (gone or restarted)")
    assert busy.status == S.STARTED


@pytest.mark.django_db
def test_a_worker_that_does_not_answer_is_no_evidence_until_the_misses_add_up() -> None:
    silent = started_run("silent", "w1@host")
    liveness = WorkerLiveness(ScriptedWorkers(*[{}] * (MISSES_BEFORE_LOST - 1)))

    check_times(liveness, MISSES_BEFORE_LOST - 1)
    silent.refresh_from_db()

    assert silent.status == S.STARTED


@pytest.mark.django_db
def test_a_lost_run_that_starts_again_on_another_worker_is_started_again() -> None:
    run = started_run("redelivered", "w1@host")
    executions.mark_worker_gone([run.task_id], now=timezone.now())

    executions.mark_started(run.task_id, worker="w2@host")
    run.refresh_from_db()

    assert (run.status, run.worker) == (S.STARTED, "w2@host")


@pytest.mark.redis
@pytest.mark.parametrize("restart", [False, True], ids=["worker stays down", "worker restarted, same hostname"])
@pytest.mark.django_db(transaction=True)
def test_a_killed_workers_run_is_lost_within_seconds_and_the_next_fire_time_runs(
    celery_processes: CeleryProcesses, monkeypatch: pytest.MonkeyPatch, restart: bool
) -> None:
    monkeypatch.setenv("BEAT_STORE_WORKER_CHECK_INTERVAL", "1")
    add_schedule("slow", "tests.sleep", {"type": "interval", "seconds": 2}, args=[60], max_instances=1)
    worker = celery_processes.start_worker()
    celery_processes.start_beat()
    stuck = wait_for_run("slow", S.STARTED)

    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    killed_at = timezone.now()
    if restart:
        celery_processes.start_worker()
    lost = wait_until(
        lambda: Execution.objects.filter(pk=stuck.pk, status=S.LOST).first(), timeout=30, message="the run lost"
    )
    if not restart:
        celery_processes.start_worker()
    after = wait_until(
        lambda: Execution.objects.filter(schedule_name="slow", status=S.STARTED, fire_time__gt=killed_at).first(),
        timeout=30,
        message="a later fire time to start",
    )

    assert lost.finished_at is not None
    assert lost.finished_at - killed_at < timedelta(seconds=20)
    assert after.pk != stuck.pk
