"""Runs decided before their fire time, in the database: held for the release, withdrawn by edits, judged at release.

With ``BEAT_STORE_PREPARE_AHEAD`` (see ``docs/spec.md``), a tick plans the schedules due within that many seconds.
A run whose fire time is still ahead is recorded ``pending``, held by the staging area (``lease_owner`` =
:data:`~beat_store.runs.STAGED`, until :data:`HOLD` past its send time) and its message staged in the broker
(``sending.staging``) before the planning transaction commits. Then:

- **at its send time** a beat locks the due staged runs (:func:`lock_due`) and takes their verdict now
  (:func:`judge`): schedule deleted (``revoked``), paused (``skipped``), edited since it was staged (withdrawn,
  see below), max instances still open (``skipped``), else released; the broker step and the records follow in
  the same transaction (``sending.dispatch.release_staged``), so an edit that waits on the row lock comes after;
- **an edit** (``Schedule.save()``: any change, pause and resume included) withdraws the schedule's staged runs in
  its own transaction (:func:`withdraw_for_edit`): their rows are deleted, and the schedule's next fire time goes
  back to the first of them when its timing is unchanged, so the next tick decides them again from the edited
  row. A row edited without ``save()`` is caught at release: its runs count as edited when ``updated_at`` moved
  past their staging, or when the edit trigger unplanned the row (``plan_new_schedules`` withdraws them too);
  paused or deleted, by the checks above;
- **if no beat releases it** within :data:`HOLD` (every beat down), any beat claims it like any pending run in
  doubt, and ``sending.dispatch`` takes its staged message back before sending it.

A staged run holds no max-instances slot until it is released (``executions.open_run_counts`` leaves it out).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Case, F, Q, Value, When

from beat_store import executions, task_defaults
from beat_store.db.locking import skip_locked
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution, Schedule
from beat_store.runs import STAGED, RecordedRun

logger = logging.getLogger(__name__)

#: How long past its send time a staged run waits for a release before any beat sends it the ordinary way.
HOLD = timedelta(seconds=60)

#: Why a run decided earlier is closed unsent: the same words whether it waited staged or pending
#: (``sending.dispatch``, ``sending.staged_dispatch``).
PAUSED_REASON = "schedule paused before the run was sent"
DELETED_REASON = "schedule deleted before the run was sent"
MISSED_REASON = "start deadline passed before beat could send it"


@dataclass(frozen=True, slots=True)
class DueRun:
    """A staged run whose send time has come, locked by the beat releasing it, with what its verdict reads of its
    schedule as it is now (``schedule_id`` None: the schedule is gone). A release holds a herd of these at once:
    slots, and the names (for the log) only when asked for."""

    id: int
    schedule_id: int | None
    fire_time: datetime
    paused: bool | None = None
    edited: bool | None = None
    max_instances: int | None = None
    task: str = ""
    schedule_name: str = ""
    task_id: str = ""


@dataclass
class Verdicts:
    """What the release does with each due staged run (:func:`judge`)."""

    release: list[int] = field(default_factory=list)
    #: (status, reason) -> runs closed unsent for it.
    close: dict[tuple[S, str], list[int]] = field(default_factory=lambda: defaultdict(list))
    #: Runs of schedules edited since they were staged: deleted, their fire time decided again.
    edited: list[DueRun] = field(default_factory=list)

    def withdrawn_ids(self) -> list[int]:
        return [run_id for ids in self.close.values() for run_id in ids] + [run.id for run in self.edited]


# -- Planning ---------------------------------------------------------------------------------------------------


def hold_for_staging(runs: Iterable[RecordedRun], *, now: datetime, at: datetime) -> list[RecordedRun]:
    """Mark, before they are inserted, the runs of fire times after ``now`` as staged at ``at``; return them.

    They are inserted held by the staging area and marked as (possibly) published: a planner killed after its
    commit has staged every one of them, since staging happens before the commit.
    """
    ahead = [run for run in runs if run.status == S.PENDING and run.fire_time > now]
    for run in ahead:
        run.lease_owner, run.lease_until = STAGED, run.send_at + HOLD
        run.publish_attempted_at = run.staged_at = at
    return ahead


def unstage(execution_ids: Sequence[int]) -> None:
    """Runs whose message could not be staged: they become ordinary pending runs, sent at their send time."""
    if execution_ids:
        Execution.objects.filter(id__in=list(execution_ids), status=S.PENDING, lease_owner=STAGED).update(
            lease_owner="", lease_until=None, publish_attempted_at=None, staged_at=None
        )


# -- Releasing --------------------------------------------------------------------------------------------------


def lock_due(now: datetime, *, limit: int, chunk: int, with_names: bool = False) -> Iterator[list[DueRun]]:
    """Lock up to ``limit`` staged runs whose send time has come (skipping those another beat holds), in send time
    order, and yield them ``chunk`` at a time. Call inside the release's transaction.

    One query reads what the verdict needs of each run's schedule too: "edited since staged" is computed by the
    database (``updated_at`` past ``staged_at``, or the row unplanned by the edit trigger). ``with_names``: each
    run's schedule name and task id too (for the log).
    """
    due = Execution.objects.filter(status=S.PENDING, lease_owner=STAGED, send_at__lte=now)
    edited = Q(schedule__updated_at__gt=F("staged_at")) | Q(
        schedule__next_fire_at__isnull=True, schedule__finished_at__isnull=True
    )
    rows = (
        skip_locked(due)
        .annotate(schedule_edited=Case(When(edited, then=Value(True)), default=Value(False)))
        .order_by("send_at")
        .values_list(
            "id",
            "schedule_id",
            "fire_time",
            "schedule__paused",
            "schedule_edited",
            "schedule__max_instances",
            "schedule__task",
            *(("schedule_name", "task_id") if with_names else ()),
        )
    )
    # Streamed (a server-side cursor on PostgreSQL, which locks each row as it is read): a herd's runs are never
    # all in memory at once, only a chunk of them.
    batch: list[DueRun] = []
    for row in rows[:limit].iterator(chunk_size=chunk):
        batch.append(DueRun(*row))
        if len(batch) == chunk:
            yield batch
            batch = []
    if batch:
        yield batch


def judge(due: Sequence[DueRun], *, open_counts: dict[int, int] | None = None) -> Verdicts:
    """Each due run's verdict, from its schedule as it is now (see the module).

    ``open_counts`` carries the max-instances slots taken from one batch of a release to the next (the runs it
    releases stay ``pending`` in the database until the release is recorded): schedules it does not know yet are
    counted, and it is updated with the runs released here.
    """
    verdicts = Verdicts()
    open_counts = {} if open_counts is None else open_counts
    unknown = sorted({run.schedule_id for run in due if run.schedule_id is not None} - open_counts.keys())
    counted = executions.open_run_counts(unknown)
    open_counts.update((schedule_id, counted.get(schedule_id, 0)) for schedule_id in unknown)
    for run in sorted(due, key=lambda run: run.fire_time):
        if run.schedule_id is None:
            verdicts.close[(S.REVOKED, DELETED_REASON)].append(run.id)
        elif run.paused:
            verdicts.close[(S.SKIPPED, PAUSED_REASON)].append(run.id)
        elif run.edited:
            verdicts.edited.append(run)
        else:
            taken = open_counts.get(run.schedule_id, 0)
            limit = task_defaults.value(run.task, "max_instances", run.max_instances)
            if taken >= limit:
                verdicts.close[(S.SKIPPED, f"{taken} of max {limit} instances still running")].append(run.id)
            else:
                open_counts[run.schedule_id] = taken + 1
                verdicts.release.append(run.id)
    return verdicts


def forget(execution_ids: Sequence[int]) -> None:
    """Delete withdrawn runs still pending (decided ahead, never sent), so that their fire times can be decided
    again."""
    if execution_ids:
        Execution.objects.filter(id__ids_in=list(execution_ids), status=S.PENDING).delete()


def decide_again(runs: Sequence[DueRun]) -> None:
    """After :func:`forget`: put each schedule's next fire time back to its first withdrawn fire time that
    its trigger, as edited, still has (so the next tick sends it), in a transaction of its own."""
    earliest: dict[int, datetime] = {}
    for run in runs:
        if run.schedule_id is not None:
            earliest[run.schedule_id] = min(run.fire_time, earliest.get(run.schedule_id, run.fire_time))
    for schedule_id, fire_time in earliest.items():
        schedule = Schedule.objects.filter(id=schedule_id).first()
        if schedule is None or (schedule.next_fire_at is None and schedule.finished_at is None):
            continue  # gone, or unplanned: the next tick plans it from its timing
        try:
            still_fires = schedule.build_trigger().next_at_or_after(fire_time) == fire_time
        except Exception:  # a trigger that raises is the planner's to pause, with the error recorded
            still_fires = False
        if still_fires:
            rewind(schedule_id, to=fire_time)


def rewind(schedule_id: int, *, to: datetime) -> bool:
    """Make ``to`` the schedule's next fire time, if it is later (or finished); a conditional UPDATE of beat's
    own columns, which neither the edit trigger nor the ``schedule_changed`` signal treats as an edit."""
    later = Q(next_fire_at__gt=to) | Q(next_fire_at__isnull=True, finished_at__isnull=False)
    return bool(Schedule.objects.filter(later, id=schedule_id).update(next_fire_at=to, finished_at=None))


# -- Edits ------------------------------------------------------------------------------------------------------


def withdraw_for_edit(schedule_id: int) -> datetime | None:
    """Delete the schedule's staged runs not yet released; return the first one's fire time (None: none).

    Call inside the edit's transaction, after locking the schedule's row and before writing it: a release in
    progress holds the runs' rows, and once it commits they are ``sent`` and stay (the edit applies from the next
    fire time). Their staged messages are never released (releases go by the database's ids) and are cleaned up
    later (``sending.dispatch.collect_staged_garbage``).
    """
    staged = Execution.objects.filter(schedule_id=schedule_id, status=S.PENDING, lease_owner=STAGED)
    rows = list(staged.select_for_update().values_list("id", "fire_time"))
    if not rows:
        return None
    Execution.objects.filter(id__in=[run_id for run_id, _ in rows], status=S.PENDING).delete()
    return min(fire_time for _, fire_time in rows)


def withdraw_unplanned(schedule_ids: Sequence[int]) -> int:
    """Delete the staged runs of schedules whose timing changed without ``save()`` (about to be planned again)."""
    if not schedule_ids:
        return 0
    with transaction.atomic():
        staged = Execution.objects.filter(schedule_id__in=list(schedule_ids), status=S.PENDING, lease_owner=STAGED)
        deleted, _ = staged.delete()
    return deleted


def still_staged(execution_ids: Sequence[int]) -> set[int]:
    """Which of these runs are still staged (for the clean-up of staged messages nobody will release)."""
    if not execution_ids:
        return set()
    runs = Execution.objects.filter(id__in=list(execution_ids), status=S.PENDING, lease_owner=STAGED)
    return set(runs.values_list("id", flat=True))


def next_release_at() -> datetime | None:
    """The earliest send time of a staged run (None: none is staged)."""
    first = (
        Execution.objects.filter(status=S.PENDING, lease_owner=STAGED)
        .order_by("send_at")
        .values_list("send_at", flat=True)
        .first()
    )
    return first
