"""Turning a worker's waiting run reports into as few statements as their order allows (#12).

A no-op task makes two reports (``started``, ``succeeded``), and written one ``UPDATE`` each they cost a worker
most of its throughput. The report writer takes every report waiting in its queue and writes them in one
transaction; :func:`statements` groups them so that reports of one kind (the same ``many`` function, e.g.
``executions.mark_many_succeeded``) go in one statement.

Only one order matters: a run's own reports (its ``started`` before its ``succeeded``). Reports of different runs
change different rows, so a report may be written before reports of other runs made earlier, never before an
earlier report of its own run. With the queue ``started a, succeeded a, started b, succeeded b`` that gives two
statements, ``started a, b`` then ``succeeded a, b``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Writes many reports of one kind in one statement, from each report's keyword arguments.
Many = Callable[[Sequence[Mapping[str, Any]]], int]


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


def statements(reports: Sequence[Report]) -> list[Statement]:
    """``reports`` (in the order they were made) as statements to write in order, each run's reports in its
    order, and at most one report of a run per statement."""
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
