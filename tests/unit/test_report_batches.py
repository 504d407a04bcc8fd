"""Grouping a worker's waiting reports into statements (#12), with stand-ins for the ``executions`` functions:
reports of one kind together, a run's reports in order, and a run's ``started`` followed by its ``succeeded``
merged into one report (one row update) unless a ``run_changed`` receiver listens. The real functions on each
database: tests/integration/test_report_batches.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from beat_store import report_batches
from beat_store.report_batches import Report, merged, statements

written: list[tuple[str, list[Mapping[str, Any]]]] = []


def started(reports: Sequence[Mapping[str, Any]]) -> int:
    written.append(("started", list(reports)))
    return len(reports)


def succeeded(reports: Sequence[Mapping[str, Any]]) -> int:
    written.append(("succeeded", list(reports)))
    return len(reports)


def both(reports: Sequence[Mapping[str, Any]]) -> int:
    written.append(("both", list(reports)))
    return len(reports)


def record(**kwargs: Any) -> int:
    return 1


MERGES = {(started, succeeded): both}


def start(run: str) -> Report:
    return Report(record, {"task_id": run, "worker": "w", "at": f"{run}-start"}, started)


def succeed(run: str) -> Report:
    return Report(record, {"task_id": run, "result": 1, "at": f"{run}-end"}, succeeded)


def other(run: str) -> Report:
    """A report of a kind written one at a time (a revocation, say)."""
    return Report(record, {"task_id": run})


def shape(grouped: Sequence[report_batches.Statement]) -> list[list[tuple[str, object]]]:
    names = {started: "started", succeeded: "succeeded", both: "both", None: "other"}
    return [[(names[report.many], report.run) for report in statement.reports] for statement in grouped]


@pytest.fixture(autouse=True)
def nobody_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    written.clear()
    monkeypatch.setattr(report_batches, "listening", lambda: False)


def test_a_runs_started_then_succeeded_become_one_report_with_both_reports_values() -> None:
    a_start, a_end = start("a"), succeed("a")

    (report,) = merged([a_start, a_end], MERGES)

    assert report.many is both
    assert report.run == "a"
    assert report.kwargs == {"task_id": "a", "first": a_start.kwargs, "then": a_end.kwargs}
    report.write()  # alone in its statement: through its kind's many, for one run
    assert written == [("both", [report.kwargs])]


def test_the_merged_reports_of_a_queue_are_one_statement() -> None:
    grouped = statements([start("a"), succeed("a"), start("b"), succeed("b")], MERGES)

    assert shape(grouped) == [[("both", "a"), ("both", "b")]]
    grouped[0].write()
    assert [(kind, [r["task_id"] for r in reports]) for kind, reports in written] == [("both", ["a", "b"])]


def test_only_a_runs_started_right_before_its_succeeded_is_merged_and_its_order_kept() -> None:
    queue = [
        start("a"),
        other("a"),  # between a's two reports: nothing of a merges
        succeed("a"),
        start("b"),
        start("c"),
        succeed("b"),  # other runs' reports in between do not matter
        other("b"),  # after the merged pair: still after it
        succeed("d"),  # started in an earlier batch
        start("e"),  # succeeds in a later batch
        succeed("c"),
    ]

    assert shape(statements(queue, MERGES)) == [
        [("started", "a"), ("started", "e")],
        [("other", "a")],
        [("succeeded", "a"), ("succeeded", "d")],
        [("both", "b"), ("both", "c")],
        [("other", "b")],
    ]


def test_a_second_pair_of_one_run_is_not_merged_into_the_first() -> None:
    queue = [start("a"), succeed("a"), start("a"), succeed("a")]

    assert shape(statements(queue, MERGES)) == [[("both", "a")], [("both", "a")]]


def test_nothing_is_merged_while_a_run_changed_receiver_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_batches, "listening", lambda: True)

    assert shape(statements([start("a"), succeed("a"), start("b"), succeed("b")], MERGES)) == [
        [("started", "a"), ("started", "b")],
        [("succeeded", "a"), ("succeeded", "b")],
    ]


def test_the_workers_started_and_succeeded_reports_merge_by_default() -> None:
    from beat_store import executions

    expected = {
        (executions.mark_many_started, executions.mark_many_succeeded): executions.mark_many_started_and_succeeded
    }
    merges = report_batches.MERGED
    assert merges == expected
