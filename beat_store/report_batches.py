"""Turning a worker's waiting run reports into as few statements as their order allows (#12).

A no-op task makes two reports (``started``, ``succeeded``), and written one ``UPDATE`` each they cost a worker
most of its throughput. The report writer takes every report waiting in its queue and writes them in one
transaction; :func:`statements` groups them so that reports of one kind (the same ``many`` function, e.g.
``executions.mark_many_succeeded``) go in one statement.

Only one order matters: a run's own reports (its ``started`` before its ``succeeded``). Reports of different runs
change different rows, so a report may be written before reports of other runs made earlier, never before an
earlier report of its own run. With the queue ``started a, succeeded a, started b, succeeded b`` that gives two
statements, ``started a, b`` then ``succeeded a, b``.

Better still, a run's ``started`` followed by its ``succeeded`` (nothing of that run in between) is one report
(:data:`MERGED`: ``executions.mark_many_started_and_succeeded``), one row update instead of two: PostgreSQL writes
one row version, and one entry in each index, per run instead of two. Nobody can see the ``started`` state in
between (one transaction), except a ``run_changed`` receiver: with one connected, reports are not merged, and
both statuses are announced as before. The queue above is then one statement, ``started and succeeded a, b``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from beat_store import executions
from beat_store.run_events import listening

#: Writes many reports of one kind in one statement, from each report's keyword arguments.
Many = Callable[[Sequence[Mapping[str, Any]]], int]


#: Two kinds of report a run makes one right after the other (their ``many``), and the kind both are written as,
#: from reports ``{"task_id", "first": the first's keyword arguments, "then": the second's}``.
Merges = Mapping[tuple[Many, Many], Many]

MERGED: Merges = {
    (executions.mark_many_started, executions.mark_many_succeeded): executions.mark_many_started_and_succeeded,
}


@dataclass(eq=False)
class Report:
    """One ``executions.mark_*`` call (``record(**kwargs)``), and ``many``, its kind's batch form (None: none)."""

    record: Callable[..., int]
    kwargs: dict[str, Any]
    many: Many | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def run(self) -> object:
        """The run it changes: its task id (every worker report names one; one that did not would be its own)."""
        return self.kwargs.get("task_id", self)

    def write(self) -> None:
        self.record(**self.kwargs)


@dataclass(eq=False)
class Statement:
    """Reports written together: one of them alone, or several of one kind through their ``many``."""

    reports: list[Report]

    def write(self) -> None:
        first = self.reports[0]
        if first.many is None or len(self.reports) == 1:
            first.write()
            return
        first.many([report.kwargs for report in self.reports])


def statements(reports: Sequence[Report], merges: Merges = MERGED) -> list[Statement]:
    """``reports`` (in the order they were made) as statements to write in order, each run's reports in its
    order, and at most one report of a run per statement; two reports of a run that ``merges`` names merged
    into one, unless a ``run_changed`` receiver is connected."""
    if merges and not listening():
        reports = merged(reports, merges)
    grouped: list[Statement] = []
    last_of_run: dict[object, int] = {}
    for report in reports:
        after = last_of_run.get(report.run, -1)
        index = _joinable(grouped, report, after)
        if index is None:
            grouped.append(Statement([report]))
            index = len(grouped) - 1
        else:
            grouped[index].reports.append(report)
        last_of_run[report.run] = index
    return grouped


def _joinable(grouped: Sequence[Statement], report: Report, after: int) -> int | None:
    """The first statement after index ``after`` that writes reports of ``report``'s kind, if any."""
    if report.many is None:
        return None
    for index in range(after + 1, len(grouped)):
        if grouped[index].reports[0].many is report.many:
            return index
    return None


def merged(reports: Sequence[Report], merges: Merges) -> list[Report]:
    """``reports`` with each pair of one run's reports that ``merges`` names, the second right after the first
    among the run's reports, as one report in the first's place (so still after the run's earlier reports, and
    before its later ones)."""
    result: list[Report] = []
    last_of_run: dict[object, int] = {}  # each run's last report so far, by its index in result
    for report in reports:
        index = last_of_run.get(report.run)
        if index is not None and (both := _merge_of(result[index], report, merges)) is not None:
            result[index] = _merged_report(result[index], report, both)
            continue
        last_of_run[report.run] = len(result)
        result.append(report)
    return result


def _merge_of(first: Report, then: Report, merges: Merges) -> Many | None:
    """The kind that writes ``first`` and ``then`` (two reports of one run, in this order) as one, if any."""
    if first.many is None or then.many is None:
        return None
    return merges.get((first.many, then.many))


def _merged_report(first: Report, then: Report, many: Many) -> Report:
    kwargs = {"task_id": first.kwargs["task_id"], "first": first.kwargs, "then": then.kwargs}
    return Report(lambda **one: many([one]), kwargs, many)
