"""The Python API of docs/spec.md: create, change and run schedules from code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from celery import current_app, current_task
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from beat_store import executions, headers, report_writer
from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.exceptions import InvalidTrigger, ScheduleExists, ScheduleLookupError
from beat_store.limits import LimitExceeded, check_json_value
from beat_store.models import DEFINITION_FIELDS, Execution, Schedule
from beat_store.planning import plan_manual_run
from beat_store.sending import dispatch
from beat_store.timezones import get_zone
from beat_store.triggers.build import aware_bound
from beat_store.triggers.spec import validate_trigger_spec

ConflictPolicy = Literal["do_nothing", "replace", "exception"]

#: Fields ``add_schedule`` accepts as keyword arguments (beyond name, task, trigger, args, kwargs).
SETTABLE_FIELDS = frozenset(DEFINITION_FIELDS) - {"name", "task", "trigger", "args", "kwargs"} | {"source"}


def add_schedule(
    name: str,
    task: str,
    trigger: Mapping[str, Any],
    *,
    args: Iterable[Any] = (),
    kwargs: Mapping[str, Any] | None = None,
    conflict_policy: ConflictPolicy = "do_nothing",
    **fields: Any,
) -> Schedule:
    """Create the schedule ``name``, or handle an existing one per ``conflict_policy``.

    ``do_nothing`` returns the existing row untouched, ``replace`` updates it in place (its history and, when
    the timing is unchanged, its next fire time are kept), ``exception`` raises ``ScheduleExists``. Invalid
    values raise ``django.core.exceptions.ValidationError`` naming the field; nothing is written then.

    A naive ``start_at``/``end_at`` is a wall time in the schedule's ``timezone`` (its first occurrence when a
    DST fold repeats it); one that a DST gap skips is refused.
    """
    unknown = set(fields) - SETTABLE_FIELDS
    if unknown:
        raise TypeError(f"add_schedule() got unknown schedule field(s): {', '.join(sorted(unknown))}")
    if conflict_policy not in ("do_nothing", "replace", "exception"):
        raise ValueError(f"conflict_policy must be 'do_nothing', 'replace' or 'exception', not {conflict_policy!r}")
    values: dict[str, Any] = {
        # Values of the wrong type are passed on as they are, for validation to refuse with a ValidationError.
        "task": task,
        "trigger": dict(trigger) if isinstance(trigger, Mapping) else trigger,
        "args": list(args) if isinstance(args, Iterable) and not isinstance(args, str | bytes | Mapping) else args,
        "kwargs": dict(kwargs) if isinstance(kwargs, Mapping) else ({} if kwargs is None else kwargs),
        "source": ScheduleSource.CODE,
        **fields,
    }
    try:
        return _save_schedule(name, values, conflict_policy)
    except IntegrityError:
        # Another process (a second beat syncing the same settings) inserted the name between our look-up and
        # our insert: apply the conflict policy to its row instead.
        if not Schedule.objects.filter(name=name).exists():
            raise
        return _save_schedule(name, values, conflict_policy)


def _save_schedule(name: str, values: Mapping[str, Any], conflict_policy: ConflictPolicy) -> Schedule:
    with transaction.atomic():
        existing = Schedule.objects.select_for_update().filter(name=name).first()
        if existing is not None:
            if conflict_policy == "exception":
                raise ScheduleExists(name)
            if conflict_policy == "do_nothing":
                return existing
            schedule = existing
        else:
            schedule = Schedule(name=name)
        values = {**values, "trigger": _normalised(values["trigger"])}
        changed = _assign(schedule, _with_aware_bounds(values, values.get("timezone", schedule.timezone)))
        if existing is None or changed:
            # Name uniqueness is left to the database (and the retry above): a check here could race.
            schedule.full_clean(validate_unique=False)
            schedule.save()
    return schedule


def _normalised(trigger: Any) -> Any:
    """The spec as it is stored, so that replacing a schedule by the same spec is seen as no change (nothing
    saved, nothing announced); an invalid spec is left for validation to refuse."""
    try:
        return validate_trigger_spec(trigger)
    except InvalidTrigger:
        return trigger


def _with_aware_bounds(values: Mapping[str, Any], zone_name: object) -> Mapping[str, Any]:
    """``start_at``/``end_at`` given as naive datetimes are wall times in the schedule's zone; one skipped by a
    DST gap is refused (``ValidationError`` naming the field), as APScheduler 4 refuses it."""
    naive = [
        key
        for key in ("start_at", "end_at")
        if isinstance(values.get(key), datetime) and values[key].utcoffset() is None
    ]
    if not naive:
        return values
    try:
        zone = get_zone(zone_name)
    except InvalidTrigger:
        return values  # full_clean names the bad zone
    try:
        return {**values, **{key: aware_bound(values[key], zone, key) for key in naive}}
    except InvalidTrigger as error:
        raise ValidationError({error.field or "start_at": error.reason[:1].upper() + error.reason[1:] + "."}) from None


def remove_schedule(name: str) -> None:
    """Delete the schedule; its executions stay, with the schedule's name on them."""
    deleted, _ = Schedule.objects.filter(name=name).delete()
    if not deleted:
        raise ScheduleLookupError(name)


def pause_schedule(name: str) -> Schedule:
    """Stop firing. Fire times that pass while paused are handled when it resumes."""
    with transaction.atomic():
        schedule = _get_for_update(name)
        if not schedule.paused:
            schedule.paused = True
            schedule.save(update_fields=["paused", "updated_at"])
    return schedule


def resume_schedule(name: str, resume_from: datetime | Literal["now"] | None = None) -> Schedule:
    """Fire again, like APScheduler 4's ``unpause_schedule``.

    ``resume_from`` (an aware datetime) skips the fire times before that moment: the next one is the first at or
    after it (in the past, the fire times since then are due at once, under the coalesce policy). ``"now"`` is
    the current moment. ``None`` hands the fire times missed while paused to the coalesce policy (and the
    misfire grace time). A naive datetime or any other value raises ``ValueError``, before anything is read.
    """
    moment = _resume_moment(resume_from)
    with transaction.atomic():
        schedule = _get_for_update(name)
        schedule.paused = False
        schedule.last_error = ""
        never_planned = schedule.next_fire_at is None and schedule.finished_at is None
        now = timezone.now()
        if moment is not None:
            schedule.reschedule(moment)
            if schedule.next_fire_at is None:
                schedule.finished_at = now  # finished now, even when resumed from a later moment
        elif never_planned:
            schedule.reschedule(now, from_start=schedule.last_fire_at is None)
        schedule.save(update_fields=["paused", "last_error", "next_fire_at", "finished_at", "updated_at"])
    return schedule


def _resume_moment(resume_from: object) -> datetime | None:
    if resume_from is None:
        return None
    if resume_from == "now":
        return timezone.now()
    if not isinstance(resume_from, datetime):
        raise ValueError(f"resume_from must be None, 'now' or an aware datetime, not {resume_from!r}")
    if resume_from.utcoffset() is None:
        raise ValueError(
            f"resume_from must be an aware datetime: the naive {resume_from.isoformat()} names no instant "
            "(give it a tzinfo, e.g. with django.utils.timezone.make_aware)"
        )
    return resume_from


def run_now(name: str, *, kwargs: Mapping[str, Any] | None = None, force: bool = False) -> Execution:
    """Send one run of the schedule to Celery at once (max instances permitting) and return its record.

    The record is ``sent`` when the broker took the message, ``skipped`` when max instances were reached, or
    ``pending`` when the broker could not be reached (beat sends it when the broker is back). ``kwargs``
    replace the schedule's keyword arguments for this run. ``force=True`` sends it even when ``max_instances``
    runs are open; the record says so (``manual`` and ``forced``).
    """
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ValidationError({"kwargs": "Keyword arguments must be a JSON object."})
    if kwargs is not None:
        try:
            check_json_value(kwargs)
        except LimitExceeded as error:
            raise ValidationError({"kwargs": f"Keyword arguments: {error}."}) from None
    now = timezone.now()
    with transaction.atomic():
        schedule = _get_for_update(name)
        open_runs = 0 if force else schedule.executions.open().count()
        planned = plan_manual_run(now=now, policy=schedule.timing_policy(), open_executions=open_runs)
        execution = executions.create_manual_run(schedule, planned, kwargs_override=kwargs, forced=force)
    if execution.status == ExecutionStatus.PENDING:
        dispatch.send_claimed_runs([execution], app=current_app, now=now)
        execution.refresh_from_db()
    return execution


def current_execution() -> Execution | None:
    """Inside a task beat_store sent (scheduled or run now), that run's record; None anywhere else.

    Read from the message's ``beat_store_execution`` header, so it is one query, made only when called. The
    worker writes its reports in the background (``beat_store.report_writer``): this waits for those made so far
    (at most ``REPORT_WAIT``, and not while the database refuses them), so a task sees itself ``started``.
    """
    if not current_task:  # a proxy: false outside a task
        return None
    execution_id = headers.execution_id_of(current_task.request)
    if execution_id is None:
        return None
    report_writer.writer.settle()
    return Execution.objects.filter(pk=execution_id).first()


def _get_for_update(name: str) -> Schedule:
    try:
        return Schedule.objects.select_for_update().get(name=name)
    except Schedule.DoesNotExist:
        raise ScheduleLookupError(name) from None


def _assign(schedule: Schedule, values: Mapping[str, Any]) -> bool:
    changed = False
    for field, value in values.items():
        if getattr(schedule, field) != value:
            setattr(schedule, field, value)
            changed = True
    return changed
