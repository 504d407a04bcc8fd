"""A worker's batched run reports (#12): many reports of one kind in one conditional statement, on each database,
with the same records, guards and ``run_changed`` announcements as one report at a time; and the report writer
writing its queue a transaction at a time, a run's reports in order, on its own (kept) connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from beat_store import executions, report_writer
from beat_store.api import add_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution
from beat_store.signals import run_changed
from tests.integration.records import execution_of

pytestmark = pytest.mark.django_db(transaction=True)


def make_runs(*statuses: str) -> list[Execution]:
    """One sent run of its own schedule per status."""
    base = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    runs = []
    for index, status in enumerate(statuses):
        schedule = add_schedule(f"job-{index}", "tests.add", {"type": "interval", "seconds": 60})
        run = execution_of(schedule, base, status)
        run.save()
        runs.append(run)
    return runs


@pytest.fixture
def writer() -> Iterator[report_writer.ReportWriter]:
    """A writer of its own, whose thread's connection is closed after the test (the test database is dropped)."""
    writer = report_writer.ReportWriter()
    yield writer
    writer.submit(lambda **kwargs: connection.close() or 0, task_id="close the connection")
    writer.settle(timeout=10)


@pytest.fixture(params=[False, True], ids=["unheard", "listening"])
def maybe_changes(request: pytest.FixtureRequest) -> list[dict[str, Any]] | None:
    """The ``run_changed`` announcements when a receiver listens; None with none connected (the plain path)."""
    return request.getfixturevalue("run_changes") if request.param else None


def entered(changes: list[dict[str, Any]] | None) -> list[tuple[str, str, str]] | None:
    """The announced changes as sorted (task id, previous status, status); None when nobody listened."""
    if changes is None:
        return None
    return sorted((c["task_id"], c["previous_status"], c["status"]) for c in changes)


def reload(run: Execution) -> Execution:
    return Execution.objects.get(pk=run.pk)


@pytest.fixture
def run_changes() -> Iterator[list[dict[str, Any]]]:
    changes: list[dict[str, Any]] = []

    def receiver(sender: object, **kwargs: Any) -> None:
        changes.append(kwargs)

    run_changed.connect(receiver, weak=False, dispatch_uid="test.report_batches")
    yield changes
    run_changed.disconnect(dispatch_uid="test.report_batches")


def test_many_started_reports_write_each_run_its_own_values_and_never_move_a_run_back(
    maybe_changes: list[dict[str, Any]] | None,
) -> None:
    first, second, finished = make_runs(S.SENT, S.PENDING, S.SUCCEEDED)
    at = timezone.now().replace(microsecond=123456)

    changed = executions.mark_many_started(
        [
            {"task_id": first.task_id, "worker": "w1@host", "at": at},
            {"task_id": second.task_id, "worker": "w2@host" + "x" * 300, "at": at + timedelta(seconds=1)},
            {"task_id": finished.task_id, "worker": "w3@host", "at": at},
        ]
    )

    assert changed == 2
    one, two, done = reload(first), reload(second), reload(finished)
    assert (one.status, one.worker, one.started_at) == (S.STARTED, "w1@host", at)
    assert (two.status, two.started_at) == (S.STARTED, at + timedelta(seconds=1))
    assert two.worker == ("w2@host" + "x" * 300)[:255]
    assert (done.status, done.started_at, done.worker) == (S.SUCCEEDED, None, "")
    expected = sorted([(first.task_id, S.SENT, S.STARTED), (second.task_id, S.PENDING, S.STARTED)])
    assert entered(maybe_changes) == (expected if maybe_changes is not None else None)


def test_many_succeeded_reports_write_results_and_retries_as_one_report_does(
    maybe_changes: list[dict[str, Any]] | None,
) -> None:
    retried, plain, revoked = make_runs(S.RETRYING, S.STARTED, S.REVOKED)
    Execution.objects.filter(pk=retried.pk).update(retries=2, traceback="Traceback ...", result="Retry in 2s")
    Execution.objects.filter(pk=plain.pk).update(retries=1)
    at = timezone.now()

    changed = executions.mark_many_succeeded(
        [
            {"task_id": retried.task_id, "result": {"rows": 3}, "at": at, "retries": 3},
            {"task_id": plain.task_id, "result": "x" * 5000, "at": at, "retries": None},
            {"task_id": revoked.task_id, "result": 1, "at": at, "retries": 0},
        ]
    )

    assert changed == 2
    one, two, three = reload(retried), reload(plain), reload(revoked)
    assert (one.status, one.result, one.retries, one.traceback, one.finished_at) == (
        S.SUCCEEDED,
        "{'rows': 3}",
        3,
        "",
        at,
    )
    assert (two.status, two.retries) == (S.SUCCEEDED, 1)  # None keeps the count
    assert two.result == executions._short_repr("x" * 5000)
    assert (three.status, three.finished_at) == (S.REVOKED, None)
    expected = sorted([(retried.task_id, S.RETRYING, S.SUCCEEDED), (plain.task_id, S.STARTED, S.SUCCEEDED)])
    assert entered(maybe_changes) == (expected if maybe_changes is not None else None)


def test_the_writer_writes_a_queue_of_reports_in_batches_each_run_in_order(
    run_changes: list[dict[str, Any]], writer: report_writer.ReportWriter
) -> None:
    runs = make_runs(*[S.SENT] * 20)
    many = {
        executions.mark_started: executions.mark_many_started,
        executions.mark_succeeded: executions.mark_many_succeeded,
    }
    at = timezone.now()

    for run in runs:
        writer.submit(
            executions.mark_started, many=many[executions.mark_started], task_id=run.task_id, worker="w", at=at
        )
        writer.submit(
            executions.mark_succeeded, many=many[executions.mark_succeeded], task_id=run.task_id, result=1, at=at
        )
    assert writer.settle(timeout=10)

    assert set(Execution.objects.values_list("status", flat=True)) == {S.SUCCEEDED}
    for run in runs:
        entered = [(c["previous_status"], c["status"]) for c in run_changes if c["task_id"] == run.task_id]
        assert entered == [(S.SENT, S.STARTED), (S.STARTED, S.SUCCEEDED)]


def test_the_writer_keeps_its_connection_whatever_conn_max_age_says(writer: report_writer.ReportWriter) -> None:
    """Django's default ``CONN_MAX_AGE = 0`` would have each batch open a new connection (#12)."""
    runs = make_runs(S.SENT, S.SENT)
    seen: list[object] = []

    def record(task_id: str, **kwargs: Any) -> int:
        seen.append(connection.connection)
        return executions.mark_started(task_id, **kwargs)

    assert connection.settings_dict["CONN_MAX_AGE"] == 0
    for run in runs:
        writer.submit(record, task_id=run.task_id, worker="w")
        assert writer.settle(timeout=10)

    assert len(seen) == 2
    assert seen[0] is seen[1]
    assert seen[0] is not None
    assert {reload(run).status for run in runs} == {S.STARTED}
