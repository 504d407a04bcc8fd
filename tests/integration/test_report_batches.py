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

from beat_store import executions, report_batches, report_writer
from beat_store.api import add_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution
from beat_store.signals import run_changed
from tests.integration.records import execution_of

pytestmark = pytest.mark.django_db(transaction=True)


def make_runs(*statuses: str, prefix: str = "job") -> list[Execution]:
    """One sent run of its own schedule per status."""
    base = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    runs = []
    for index, status in enumerate(statuses):
        schedule = add_schedule(f"{prefix}-{index}", "tests.add", {"type": "interval", "seconds": 60})
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


def submit_started_and_succeeded(writer: report_writer.ReportWriter, runs: list[Execution], *, at: Any) -> None:
    """Each run's ``started`` then ``succeeded`` report, through ``writer``, as the receivers submit them."""
    started, succeeded = executions.mark_started, executions.mark_succeeded
    for run in runs:
        writer.submit(started, many=executions.mark_many_started, task_id=run.task_id, worker="w", at=at)
        writer.submit(succeeded, many=executions.mark_many_succeeded, task_id=run.task_id, result=1, at=at)


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
    at = timezone.now()

    submit_started_and_succeeded(writer, runs, at=at)
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


#: A run in each status a pair of reports may find: waiting to start (both apply), started (only the success
#: applies), final (neither).
EVERY_STATUS = (S.PENDING, S.SENT, S.LOST, S.RETRYING, S.STARTED, S.SUCCEEDED, S.FAILED, S.REVOKED, S.MISSED)
#: The columns a run's reports may write.
REPORTED = ("status", "started_at", "worker", "finished_at", "result", "exception", "traceback", "retries", "sent_at")


def make_twin_runs(statuses: tuple[str, ...]) -> tuple[list[Execution], list[Execution]]:
    """Two runs alike (but their task ids) in each status, with what earlier reports would have left."""
    twins = make_runs(*statuses, prefix="one"), make_runs(*statuses, prefix="two")
    earlier = timezone.now().replace(microsecond=0) - timedelta(seconds=30)
    for runs in twins:
        for run in runs:
            Execution.objects.filter(pk=run.pk).update(
                retries=2,
                result="Retry in 2s" if run.status == S.RETRYING else "",
                traceback="Traceback ..." if run.status == S.RETRYING else "",
                exception="ValueError: no" if run.status == S.FAILED else "",
                started_at=earlier if run.status in (S.STARTED, S.SUCCEEDED, S.FAILED) else None,
                worker="old@host" if run.status in (S.STARTED, S.SUCCEEDED, S.FAILED) else "",
                finished_at=earlier if run.status in (S.SUCCEEDED, S.FAILED, S.REVOKED, S.LOST) else None,
                sent_at=None if run.status == S.PENDING else earlier,
            )
    return twins


def reports_of(run: Execution, at: Any, retries: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A run's ``started`` and ``succeeded`` reports, as the receivers make them."""
    return (
        {"task_id": run.task_id, "worker": "w@host" + "x" * 300, "at": at},
        {"task_id": run.task_id, "result": {"rows": 3}, "at": at + timedelta(seconds=1), "retries": retries},
    )


def columns(run: Execution) -> tuple[Any, ...]:
    row = reload(run)
    return tuple(getattr(row, name) for name in REPORTED)


@pytest.mark.parametrize("statuses", [EVERY_STATUS, (S.PENDING, S.SENT, S.LOST)], ids=["every-status", "to-start"])
@pytest.mark.parametrize("retries", [3, None])
def test_a_merged_started_and_succeeded_leaves_each_row_as_the_two_updates_do(
    statuses: tuple[str, ...], retries: int | None
) -> None:
    apart, together = make_twin_runs(statuses)
    at = timezone.now().replace(microsecond=123456)
    two_reports = [reports_of(run, at, retries) for run in apart]
    merged = [reports_of(run, at, retries) for run in together]

    changed_apart = executions.mark_many_started(
        [started for started, _ in two_reports]
    ) + executions.mark_many_succeeded([succeeded for _, succeeded in two_reports])
    changed_together = executions.mark_many_started_and_succeeded(
        [{"task_id": first["task_id"], "first": first, "then": then} for first, then in merged]
    )

    assert [columns(run) for run in together] == [columns(run) for run in apart]
    assert changed_together == changed_apart - sum(
        run.status in ("pending", "sent", "lost", "retrying") for run in apart
    )
    by_status = {run.status: reload(run) for run in together}
    for status in (S.PENDING, S.SENT, S.LOST):
        assert (by_status[status].status, by_status[status].started_at) == (S.SUCCEEDED, at)
        assert by_status[status].worker == ("w@host" + "x" * 300)[:255]
    assert by_status[S.SENT].retries == (2 if retries is None else retries)
    if S.STARTED in by_status:
        assert (by_status[S.STARTED].status, by_status[S.STARTED].worker) == (S.SUCCEEDED, "old@host")
        assert (by_status[S.FAILED].status, by_status[S.FAILED].result) == (S.FAILED, "")


def test_a_merged_pair_announces_both_statuses_while_a_receiver_listens(run_changes: list[dict[str, Any]]) -> None:
    sent, started, done = make_runs(S.SENT, S.STARTED, S.SUCCEEDED)
    at = timezone.now()

    executions.mark_many_started_and_succeeded(
        [
            {"task_id": first["task_id"], "first": first, "then": then}
            for first, then in (reports_of(run, at, None) for run in (sent, started, done))
        ]
    )

    assert entered(run_changes) == sorted(
        [
            (sent.task_id, S.SENT, S.STARTED),
            (sent.task_id, S.STARTED, S.SUCCEEDED),
            (started.task_id, S.STARTED, S.SUCCEEDED),
        ]
    )
    assert (reload(sent).status, reload(sent).started_at) == (S.SUCCEEDED, at)


def test_the_writer_writes_each_runs_started_and_succeeded_as_one_update_when_nobody_listens(
    writer: report_writer.ReportWriter,
) -> None:
    runs = make_runs(*[S.SENT] * 10, S.PENDING, S.LOST, S.STARTED, S.REVOKED)
    writes: list[int] = []
    merged_many = executions.mark_many_started_and_succeeded

    def counted(reports: Any) -> int:
        writes.append(len(reports))
        return merged_many(reports)

    at = timezone.now()
    merges = {(executions.mark_many_started, executions.mark_many_succeeded): counted}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report_writer, "statements", lambda batch: report_batches.statements(batch, merges))
        writer.gather_for = 5.0  # one batch: written when settle() asks
        submit_started_and_succeeded(writer, runs, at=at)
        assert writer.settle(timeout=10)

    assert writes == [len(runs)]
    rows = [reload(run) for run in runs]
    assert [(row.status, row.started_at, row.worker) for row in rows[:12]] == [(S.SUCCEEDED, at, "w")] * 12
    assert (rows[12].status, rows[12].started_at, rows[12].worker) == (S.SUCCEEDED, None, "")
    assert (rows[13].status, rows[13].finished_at) == (S.REVOKED, None)
