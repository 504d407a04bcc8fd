"""The Python API of docs/spec.md: create, change and run schedules from code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from beat_store import executions
from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.exceptions import ScheduleExists, ScheduleLookupError
from beat_store.models import DEFINITION_FIELDS, Execution, Schedule
from beat_store.planning import plan_manual_run
from beat_store.sending import dispatch

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
    """
    unknown = set(fields) - SETTABLE_FIELDS
    if unknown:
        raise TypeError(f"add_schedule() got unknown schedule field(s): {', '.join(sorted(unknown))}")
    if conflict_policy not in ("do_nothing", "replace", "exception"):
        raise ValueError(f"conflict_policy must be 'do_nothing', 'replace' or 'exception', not {conflict_policy!r}")
    values: dict[str, Any] = {
        "task": task,
        "trigger": dict(trigger),
        "args": list(args),
        "kwargs": dict(kwargs or {}),
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
        changed = _assign(schedule, values)
        if existing is None or changed:
            # Name uniqueness is left to the database (and the retry above): a check here could race.
            schedule.full_clean(validate_unique=False)
            schedule.save()
    return schedule


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


def resume_schedule(name: str, resume_from: Literal["now"] | None = None) -> Schedule:
    """Fire again. ``resume_from="now"`` skips what was missed while paused; ``None`` hands the missed fire
    times to the schedule's coalesce policy (and its misfire grace time)."""
    if resume_from not in (None, "now"):
        raise ValueError(f"resume_from must be None or 'now', not {resume_from!r}")
    with transaction.atomic():
        schedule = _get_for_update(name)
        schedule.paused = False
        schedule.last_error = ""
        never_planned = schedule.next_fire_at is None and schedule.finished_at is None
        if resume_from == "now":
            schedule.reschedule(timezone.now())
        elif never_planned:
            schedule.reschedule(timezone.now(), from_start=schedule.last_fire_at is None)
        schedule.save(update_fields=["paused", "last_error", "next_fire_at", "finished_at", "updated_at"])
    return schedule


def run_now(name: str, *, kwargs: Mapping[str, Any] | None = None) -> Execution:
    """Send one run of the schedule to Celery at once (max instances permitting) and return its record.

    The record is ``sent`` when the broker took the message, ``skipped`` when max instances were reached, or
    ``pending`` when the broker could not be reached (beat sends it when the broker is back).
    """
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ValidationError({"kwargs": "Keyword arguments must be a JSON object."})
    now = timezone.now()
    with transaction.atomic():
        schedule = _get_for_update(name)
        open_runs = schedule.executions.open().count()
        planned = plan_manual_run(now=now, policy=schedule.timing_policy(), open_executions=open_runs)
        execution = executions.create_manual_run(schedule, planned, kwargs_override=kwargs)
    if execution.status == ExecutionStatus.PENDING:
        dispatch.send_claimed_runs([execution], app=current_app, now=now)
        execution.refresh_from_db()
    return execution


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
