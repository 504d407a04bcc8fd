"""Every change to an execution row, and the reads that decide them: the one owner of a run's state.

A run's life, and who moves it on (each step is one function here, called by the module named):

- recorded by a tick (``store.plan_due_schedules`` -> :func:`record_scheduled_runs`), or by "run now"
  (``api.run_now`` -> :func:`create_manual_run`): ``pending``, ``missed`` or ``skipped``;
- leased by the beat that sends it (:func:`record_scheduled_runs` for the runs due at once,
  :func:`claim_pending_runs` for the rest), given back when the broker fails (:func:`release_runs`);
- sent (``sending.dispatch``: :func:`mark_publishing`, then :func:`mark_sent`), or closed unsent
  (:func:`close_unsent`);
- started, succeeded, failed, retrying, revoked (the worker's ``receivers``: :func:`mark_started`, ...);
- lost when no worker reported for too long (the engine: :func:`mark_lost`).

Worker-side transitions are each one conditional ``UPDATE``, so a late or repeated signal never moves a record
backwards (a worker may report ``started`` before beat has stamped ``sent``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Min, Q, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from beat_store import headers
from beat_store.conf import settings
from beat_store.db import bulk, slots
from beat_store.db.locking import skip_locked
from beat_store.enums import ExecutionStatus as S
from beat_store.limits import keep_tail
from beat_store.models import Execution, Schedule
from beat_store.planning import PlannedRun
from beat_store.run_events import announce_recorded, listening, update_runs, write_runs
from beat_store.runs import RecordedRun, SendableRun

#: States a worker-side report may leave; terminal states are never left.
#: A lost run may start again: a redelivery (``acks_late``) after its worker died.
_BEFORE_START = (S.PENDING, S.SENT, S.RETRYING, S.LOST)
_RUNNING = (S.PENDING, S.SENT, S.STARTED, S.RETRYING, S.LOST)

#: What sending a run reads, of the run and of its schedule.
_SEND_FIELDS = (
    "schedule_name",
    "manual",
    "task",
    "fire_time",
    "task_id",
    "send_at",
    "deadline_at",
    "kwargs_override",
    "publish_attempted_at",
    "staged_at",
    "schedule__args",
    "schedule__kwargs",
    "schedule__queue",
    "schedule__exchange",
    "schedule__routing_key",
    "schedule__priority",
    "schedule__expires",
    "schedule__headers",
    "schedule__paused",
)

#: Columns :func:`record_scheduled_runs` writes from each run.
_RECORDED_FIELDS = (
    "schedule",
    "schedule_name",
    "task",
    "fire_time",
    "jitter",
    "task_id",
    "status",
    "send_at",
    "deadline_at",
    "finished_at",
    "result",
    "publish_attempted_at",
    "lease_owner",
    "lease_until",
    "staged_at",
)
#: Columns written with one value for every recorded run.
_RECORDED_CONSTANTS = (
    ("manual", False),
    ("forced", False),
    ("exception", ""),
    ("traceback", ""),
    ("worker", ""),
    ("retries", 0),
)


# -- Recording decided runs ------------------------------------------------------------------------------------


def scheduled_run(schedule: Schedule, run: PlannedRun) -> RecordedRun:
    """The record of a run a tick decided, with its deterministic task id (not written yet)."""
    return RecordedRun(
        **_run_fields(schedule, run), task_id=headers.task_id_for(schedule.pk, schedule.name, run.fire_time)
    )


def record_scheduled_runs(runs: list[RecordedRun], *, leased_to: str | None, now: datetime) -> list[RecordedRun]:
    """Insert the runs a tick decided; return those due at ``now`` (the tick's planning time), to send at once.

    With ``leased_to``, the runs due at once are recorded leased to that beat and marked as being published:
    it sends them without reading them again, and one that dies first leaves them *in doubt*, recovered like
    any run whose publication was cut short. A (schedule, fire time) recorded before (a form saved with a stale
    ``next_fire_at``) is kept as it was, by the unique constraint: its repeat is neither recorded nor sent.
    """
    ready = _lease_due(runs, owner=leased_to, now=now) if leased_to else []
    stamp = timezone.now()
    new_ids = bulk.insert_new_rows(
        Execution,
        runs,
        fields=_RECORDED_FIELDS,
        constants=_RECORDED_CONSTANTS,
        stamp_fields=("created_at", "updated_at"),
        stamp=stamp,
        key="task_id",
    )
    for run in runs:
        run.pk = new_ids.get(run.task_id)
    announce_recorded(runs)
    return [run for run in ready if run.pk is not None]


def _lease_due(runs: list[RecordedRun], *, owner: str, now: datetime) -> list[RecordedRun]:
    """Lease to ``owner`` the runs due at ``now``.

    The lease counts from the clock, not from ``now``: in a long herd the tick started long ago, and a lease
    already run out when written would let another beat send the same runs.
    """
    leased_at = timezone.now()
    lease_until = leased_at + timedelta(seconds=settings.LEASE_SECONDS)
    due = [run for run in runs if run.status == S.PENDING and run.send_at <= now]
    for run in due:
        run.lease_owner, run.lease_until, run.publish_attempted_at = owner, lease_until, leased_at
    return due


def create_manual_run(
    schedule: Schedule, run: PlannedRun, *, kwargs_override: Mapping[str, Any] | None, forced: bool = False
) -> Execution:
    """Record a "run now" run (``pending``, or ``skipped`` at max instances) with a random task id."""
    execution = Execution.objects.create(
        **_run_fields(schedule, run),
        manual=True,
        forced=forced,
        task_id=str(uuid.uuid4()),
        kwargs_override=dict(kwargs_override) if kwargs_override is not None else None,
    )
    announce_recorded([execution])
    return execution


def _run_fields(schedule: Schedule, run: PlannedRun) -> dict[str, Any]:
    """The execution columns a decided run fills in, whether recorded by a tick or started by "run now"."""
    return {
        "schedule": schedule,
        "schedule_name": schedule.name,
        "task": schedule.task,
        "fire_time": run.fire_time,
        "jitter": run.jitter,
        "status": run.status,
        "send_at": run.send_at,
        "deadline_at": run.deadline_at,
        "finished_at": None if run.status == S.PENDING else run.send_at,
        "result": run.reason,
    }


def open_run_counts(schedule_ids: Sequence[int]) -> dict[int, int]:
    """Open runs (holding a max-instances slot) per schedule. Runs staged ahead hold none until released: their
    own verdict is taken then (``staged_runs``)."""
    return slots.count_slots(schedule_ids)


# -- Sending ---------------------------------------------------------------------------------------------------


def claim_pending_runs(now: datetime, *, owner: str, limit: int) -> list[Execution]:
    """Lease up to ``limit`` pending runs whose send time has come to ``owner`` and return them, with what
    sending reads of their schedule.

    A lease that ran out (its beat died between claiming and sending) is claimed again, by any beat.
    """
    claimable = Q(status=S.PENDING, send_at__lte=now) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    with transaction.atomic():
        claimed = skip_locked(Execution.objects.filter(claimable)).order_by("send_at")
        ids = list(claimed.values_list("id", flat=True)[:limit])
        if not ids:
            return []
        # The condition is evaluated again by the UPDATE itself: on SQLite, where nothing was locked, a row
        # another beat leased meanwhile is left out, and the owner column tells us which rows are ours.
        Execution.objects.filter(claimable, id__in=ids).update(
            lease_owner=owner, lease_until=now + timedelta(seconds=settings.LEASE_SECONDS)
        )
    return list(
        Execution.objects.filter(id__in=ids, lease_owner=owner, status=S.PENDING)
        .select_related("schedule")
        .only(*_SEND_FIELDS)
        .order_by("send_at")
    )


def next_send_at(now: datetime) -> datetime | None:
    """The earliest send time of a pending run no beat holds (None: there is none)."""
    unleased = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return Execution.objects.filter(unleased, status=S.PENDING).aggregate(at=Min("send_at"))["at"]


def release_runs(execution_ids: Iterable[int], *, retry_at: datetime | None, owner: str | None = None) -> None:
    """Give back runs that could not be sent (those still leased to ``owner``, when given); any beat may try
    again from ``retry_at`` (None: at once)."""
    runs = Execution.objects.filter(id__in=list(execution_ids), status=S.PENDING)
    if owner is not None:
        runs = runs.filter(lease_owner=owner)
    runs.update(lease_owner="", lease_until=retry_at)


def mark_publishing(execution_ids: Iterable[int], *, at: datetime) -> int:
    """These runs are about to go to the broker: from now on, a crash leaves them in doubt."""
    return Execution.objects.filter(id__ids_in=list(execution_ids), status=S.PENDING).update(publish_attempted_at=at)


def mark_sent(execution_ids: Iterable[int], *, at: datetime) -> int:
    """Beat handed these runs to the broker; return how many were still ``pending``.

    A fast worker may report a run started, or even finished, before this stamp lands. Such a run keeps its
    status but still gets its ``sent_at``: it was sent, and no later than the worker began (or ended) it, so the
    stamp is capped there to keep sent <= started <= finished.
    """
    ids = list(execution_ids)
    still_pending = update_runs(
        Execution.objects.filter(id__ids_in=ids, status=S.PENDING),
        status=S.SENT,
        sent_at=at,
        lease_owner="",
        lease_until=None,
    )
    if still_pending < len(ids):
        Execution.objects.filter(id__ids_in=ids, sent_at__isnull=True).exclude(status=S.PENDING).update(
            sent_at=Least(Value(at), Coalesce("started_at", "finished_at", Value(at))),
            lease_owner="",
            lease_until=None,
        )
    return still_pending


def mark_released(execution_ids: Sequence[int], *, at: datetime) -> int:
    """Staged runs a release has just pushed onto their queues are ``sent``. The release's transaction holds their
    rows locked since it found them ``pending``, so no worker report can have moved them meanwhile.

    Selected by id alone: with a status condition too, PostgreSQL's statistics (few pending runs, when they were
    last sampled) had it read every pending run of the herd in flight for each batch.
    """
    return update_runs(
        Execution.objects.filter(id__ids_in=list(execution_ids)),
        status=S.SENT,
        sent_at=at,
        lease_owner="",
        lease_until=None,
    )


def close_unsent(execution_ids: Iterable[int], *, status: S, reason: str, at: datetime) -> int:
    """Beat decided not to send these pending runs after all (start deadline passed, schedule deleted)."""
    return update_runs(
        Execution.objects.filter(id__ids_in=list(execution_ids), status=S.PENDING),
        status=status,
        finished_at=at,
        result=reason,
        lease_owner="",
        lease_until=None,
    )


def fail_unsent(run: SendableRun, *, reason: str, at: datetime) -> None:
    """A pending run beat could not turn into a message (its schedule row holds values validation refuses): the
    run fails, and a scheduled run's schedule is paused with the reason, since its next runs would fail alike."""
    with transaction.atomic():
        update_runs(
            Execution.objects.filter(id=run.pk, status=S.PENDING),
            status=S.FAILED,
            finished_at=at,
            exception=_short_repr(reason),
            lease_owner="",
            lease_until=None,
        )
        if not run.manual and run.schedule_id is not None:
            Schedule.objects.filter(id=run.schedule_id).update(paused=True, last_error=reason, updated_at=at)


# -- What workers report ---------------------------------------------------------------------------------------


def mark_started(task_id: str, *, worker: str, at: datetime | None = None) -> int:
    at = at or timezone.now()
    return update_runs(
        Execution.objects.filter(task_id=task_id, status__in=_BEFORE_START),
        status=S.STARTED,
        started_at=at,
        worker=worker[:255],
    )


def mark_succeeded(task_id: str, *, result: object, at: datetime | None = None, retries: int | None = None) -> int:
    """The run's end, a success: what earlier attempts left (a retry's reason and traceback) goes. ``retries`` is
    the final attempt's own count (Celery's ``request.retries``), which holds even when the retry's report lost the
    race with this one."""
    return update_runs(
        Execution.objects.filter(task_id=task_id, status__in=_RUNNING),
        status=S.SUCCEEDED,
        finished_at=at or timezone.now(),
        result=_short_repr(result),
        exception="",
        traceback="",
        **_retries(retries),
    )


def mark_many_started(reports: Sequence[Mapping[str, Any]]) -> int:
    """:func:`mark_started` for several runs (each report its keyword arguments with ``task_id``), in one
    statement: the worker's batched reports (``beat_store.report_batches``, #12). One report per run."""
    now = timezone.now()
    rows = [{"task_id": report["task_id"], **_started_values(report, now)} for report in reports]
    return _write_reported(rows, _BEFORE_START, status=S.STARTED)


def mark_many_succeeded(reports: Sequence[Mapping[str, Any]]) -> int:
    """:func:`mark_succeeded` for several runs, in one statement, as :func:`mark_many_started`."""
    now = timezone.now()
    rows = [{"task_id": report["task_id"], **_succeeded_values(report, now)} for report in reports]
    return _write_reported(rows, _RUNNING, status=S.SUCCEEDED, **_SUCCEEDED_CONSTANTS)


def mark_many_started_and_succeeded(reports: Sequence[Mapping[str, Any]]) -> int:
    """:func:`mark_many_started` then :func:`mark_many_succeeded`, for runs whose ``started`` report was followed
    by their ``succeeded`` one in the same batch (``report_batches``: each report ``{"task_id", "first": the
    started report's keyword arguments, "then": the succeeded one's}``), written as ONE row update per run.

    Every row is left as the two updates would leave it: a run waiting to start (pending, sent, retrying, lost)
    takes both reports' values at once; one started already takes only the success (its ``started_at`` and worker
    stay, its ``started`` report would not have applied), and a final one nothing. Only the first statement runs
    when it changed every run (task ids name one run each). With a ``run_changed`` receiver connected, the two
    updates are made as before, so that both statuses are announced.
    """
    started = [report["first"] for report in reports]
    succeeded = [report["then"] for report in reports]
    if listening():
        return mark_many_started(started) + mark_many_succeeded(succeeded)
    now = timezone.now()
    rows = [
        {"task_id": report["task_id"], **_started_values(first, now), **_succeeded_values(then, now)}
        for report, first, then in zip(reports, started, succeeded, strict=True)
    ]
    changed = _write_reported(rows, _BEFORE_START, status=S.SUCCEEDED, **_SUCCEEDED_CONSTANTS)
    if changed < len(rows):  # some were not waiting to start: their success alone applies (final ones: nothing)
        changed += mark_many_succeeded(succeeded)
    return changed


#: What a success clears: what earlier attempts left (a retry's reason and traceback).
_SUCCEEDED_CONSTANTS = {"exception": "", "traceback": ""}


def _started_values(report: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The columns a ``started`` report (:func:`mark_started`'s keyword arguments) writes, but its status."""
    return {"started_at": report.get("at") or now, "worker": report["worker"][:255]}


def _succeeded_values(report: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The columns a ``succeeded`` report (:func:`mark_succeeded`'s keyword arguments) writes, but its status and
    :data:`_SUCCEEDED_CONSTANTS`; ``retries`` None keeps the row's count."""
    return {
        "finished_at": report.get("at") or now,
        "result": _short_repr(report["result"]),
        "retries": report.get("retries"),
    }


def _write_reported(rows: list[dict[str, Any]], allowed: Sequence[str], *, status: S, **constants: str) -> int:
    """One conditional ``UPDATE`` of the runs of ``rows`` (by task id) still in an ``allowed`` status, as the
    single-run reports make: a late or repeated report moves no run backwards, and each change is announced."""
    allowed_values = [str(value) for value in allowed]
    runs = Execution.objects.filter(task_id__in=[row["task_id"] for row in rows], status__in=allowed_values)

    def write(ids: list[int] | None) -> int:
        where: dict[str, Sequence[Any]] = {"status": allowed_values}
        if ids is not None:
            where["id"] = ids
        return bulk.update_by_key(
            Execution,
            rows,
            key="task_id",
            constants={"status": str(status), **constants},
            where=where,
            keep_if_null=("retries",),
        )

    return write_runs(runs, write, status=str(status))


def mark_failed(
    task_id: str,
    *,
    exception: BaseException | None,
    traceback: str,
    at: datetime | None = None,
    retries: int | None = None,
) -> int:
    """The run's end, a failure: the final exception and its traceback, not a retry's reason."""
    return update_runs(
        Execution.objects.filter(task_id=task_id, status__in=_RUNNING),
        status=S.FAILED,
        finished_at=at or timezone.now(),
        result="",
        exception=_describe_exception(exception),
        traceback=keep_tail(traceback or ""),
        **_retries(retries),
    )


def _retries(retries: int | None) -> dict[str, Any]:
    return {} if retries is None else {"retries": retries}


def mark_retrying(task_id: str, *, reason: object, traceback: str = "") -> int:
    """A failed attempt that will be retried: not the run's end, so no ``finished_at``. ``reason`` is shown as
    Celery words it (``Retry in 2s: ConnectionError(...)``), not as the nested repr of its ``Retry``."""
    text = str(reason) if isinstance(reason, BaseException) else reason
    return update_runs(
        Execution.objects.filter(task_id=task_id, status__in=_RUNNING),
        status=S.RETRYING,
        result=_short_repr(text),
        traceback=keep_tail(traceback or ""),
        retries=F("retries") + 1,
    )


def mark_revoked(task_id: str, *, expired: bool, at: datetime | None = None) -> int:
    """A revoked run; one revoked because its message expired never started in time, so it was ``missed``."""
    status = S.MISSED if expired else S.REVOKED
    reason = "start deadline passed before a worker could start it" if expired else "revoked"
    return update_runs(
        Execution.objects.filter(task_id=task_id, status__in=_RUNNING),
        status=status,
        finished_at=at or timezone.now(),
        result=reason,
    )


def mark_lost(*, now: datetime) -> int:
    """Open runs with no news for ``BEAT_STORE_LOST_AFTER`` seconds free their max-instances slot as ``lost``.

    Only sent/started/retrying runs: a pending run is still beat's to send, and any beat re-sends it.
    """
    cutoff = now - timedelta(seconds=settings.LOST_AFTER)
    return update_runs(
        Execution.objects.filter(status__in=(S.SENT, S.STARTED, S.RETRYING), updated_at__lt=cutoff),
        status=S.LOST,
        finished_at=now,
        result=f"no news from a worker for {settings.LOST_AFTER:g} s",
    )


def started_runs() -> list[Execution]:
    """Runs a worker reported started and nothing since: their task id and worker hostname."""
    return list(Execution.objects.filter(status=S.STARTED).only("id", "task_id", "worker"))


def mark_worker_gone(task_ids: Sequence[str], *, now: datetime) -> int:
    """Started runs that their worker no longer runs (see ``beat_store.worker_liveness``) become ``lost``."""
    return update_runs(
        Execution.objects.filter(task_id__in=list(task_ids), status=S.STARTED),
        status=S.LOST,
        finished_at=now,
        result="its worker no longer runs it (gone or restarted)",
    )


# -- What operators decide -------------------------------------------------------------------------------------


def mark_lost_by(execution_ids: Iterable[int], *, by: str, at: datetime) -> list[Execution]:
    """An operator's word that these runs will never finish (their worker is gone): each sent, started or
    retrying one becomes ``lost``, freeing its max-instances slot. Returns the runs changed."""
    return _close_open(execution_ids, (S.SENT, S.STARTED, S.RETRYING), S.LOST, f"marked lost by {by}", at=at)


def revoke_by(execution_ids: Iterable[int], *, by: str, at: datetime) -> list[Execution]:
    """An operator revokes these runs: each open one (a pending one is then never sent) becomes ``revoked``.
    Returns the runs changed; stopping their tasks on the workers is the caller's (Celery's control API)."""
    return _close_open(execution_ids, S.open_values(), S.REVOKED, f"revoked by {by}", at=at)


def _close_open(
    execution_ids: Iterable[int], statuses: Sequence[str], status: S, reason: str, *, at: datetime
) -> list[Execution]:
    runs = list(Execution.objects.filter(id__in=list(execution_ids), status__in=statuses))
    # The status is checked again by the UPDATE: a run that ended meanwhile keeps its end.
    changed = Execution.objects.filter(id__in=[run.pk for run in runs], status__in=statuses)
    update_runs(changed, status=status, finished_at=at, result=_short_repr(reason), lease_owner="", lease_until=None)
    return runs


def _short_repr(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    limit = settings.RESULT_MAX_LENGTH
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_exception(exception: BaseException | None) -> str:
    if exception is None:
        return ""
    return _short_repr(f"{type(exception).__name__}: {exception}")
