"""Sending ``beat_store.signals.run_changed`` for every status a run enters, at no cost without receivers.

Executions change by ``QuerySet.update()`` and bulk inserts (a herd writes thousands at once), so Django's own
``post_save`` never fires for them. :func:`update_runs` is the one way :mod:`beat_store.executions` changes a
run's status: with no receiver connected it is the plain ``UPDATE``; with one, it locks and reads the rows the
update will change (their previous status), updates exactly those, and announces each after the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from beat_store.models import Execution
from beat_store.signals import run_changed, send_robustly

_FIELDS = ("id", "schedule_name", "task_id", "fire_time", "manual", "status")


@dataclass(frozen=True)
class RunChange:
    execution_id: int
    schedule_name: str
    task_id: str
    fire_time: datetime
    manual: bool
    status: str
    previous_status: str | None


def listening() -> bool:
    return run_changed.has_listeners()


def update_runs(runs: QuerySet[Execution], **changes: Any) -> int:
    """``runs.update(**changes)`` (which sets ``status``), announcing each run it changes."""
    return write_runs(
        runs,
        lambda ids: (runs if ids is None else runs.filter(id__ids_in=ids)).update(**changes),
        status=str(changes["status"]),
    )


def write_runs(runs: QuerySet[Execution], write: Callable[[list[int] | None], int], *, status: str) -> int:
    """``write(None)``, a statement that moves ``runs`` to ``status``, announcing each run it changes: with a
    receiver connected, the rows are read locked first and ``write(ids)`` changes exactly those.

    ``write`` may be a bulk statement of many runs with values of their own (the worker's batched reports, #12):
    each run it changes is announced as one ``update_runs`` would."""
    if not listening():
        return write(None)
    with transaction.atomic():
        before = list(runs.select_for_update().values(*_FIELDS))
        if not before:
            return 0
        changed = write([row["id"] for row in before])
        announce(
            RunChange(
                execution_id=row["id"],
                schedule_name=row["schedule_name"],
                task_id=row["task_id"],
                fire_time=row["fire_time"],
                manual=row["manual"],
                status=status,
                previous_status=row["status"],
            )
            for row in before
            if row["status"] != status
        )
    return changed


def announce_recorded(runs: Iterable[Any]) -> None:
    """Runs just inserted (pending, missed or skipped): announced with no previous status."""
    if not listening():
        return
    announce(
        RunChange(
            execution_id=run.pk,
            schedule_name=run.schedule_name,
            task_id=run.task_id,
            fire_time=run.fire_time,
            manual=run.manual,
            status=str(run.status),
            previous_status=None,
        )
        for run in runs
        if run.pk is not None
    )


def announce(changes: Iterable[RunChange]) -> None:
    """Send ``run_changed`` for each change once the current transaction commits (at once outside one)."""
    pending = list(changes)
    if pending:
        transaction.on_commit(lambda: _send(pending))


def _send(changes: list[RunChange]) -> None:
    for change in changes:
        send_robustly(run_changed, "run_changed", Execution, **change.__dict__)
