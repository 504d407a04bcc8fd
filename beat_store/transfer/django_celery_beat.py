"""django-celery-beat's ``PeriodicTask`` rows -> schedule drafts.

The mapping, row by row:

==========================  ==================================================================================
django-celery-beat          beat_store
==========================  ==================================================================================
interval (every, period)    ``interval`` trigger; counted from ``last_run_at`` (the interval's phase is kept)
crontab (+ its timezone)    ``cron`` trigger with the 5-field expression; the schedule's ``timezone``
clocked (clocked_time)      ``date`` trigger
solar                       unsupported (beat_store has no sunrise/sunset trigger)
args, kwargs, headers       decoded from their JSON text
queue, exchange, routing    same columns (``None`` -> empty)
priority                    same
expire_seconds              ``expires`` (seconds)
expires (a date)            ``end_at``: no fire time after it (a message sent later would expire at once)
one_off                     ends after its next fire time (``end_at`` = that time)
start_time                  ``start_at``
enabled = False             ``paused``
last_run_at                 ``last_fire_at``; ``next_fire_at`` is the first fire time after it
description                 same
==========================  ==================================================================================

``celery.backend_cleanup`` (which django-celery-beat adds by itself) is skipped: beat_store declares it from
settings when the result backend needs it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.apps import apps

from beat_store.exceptions import InvalidTrigger
from beat_store.transfer.importing import ScheduleDraft, Unsupported
from beat_store.transfer.sources import SourceReading, SourceUnavailable
from beat_store.triggers import validate_trigger_spec
from beat_store.triggers.cron_syntax import crontab_expression

BACKEND_CLEANUP = "celery.backend_cleanup"
_PERIOD_UNITS = {"days": "days", "hours": "hours", "minutes": "minutes", "seconds": "seconds"}


class Unmappable(ValueError):
    """One PeriodicTask cannot be expressed exactly."""


def read_django_celery_beat() -> SourceReading:
    """Every ``PeriodicTask`` as a draft, or as an unsupported entry saying why."""

    if not apps.is_installed("django_celery_beat"):
        raise SourceUnavailable(
            "django_celery_beat is not in INSTALLED_APPS: add it back for the import (its tables must "
            "exist), then remove it"
        )
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    reading = SourceReading()
    tasks = periodic_task.objects.select_related("interval", "crontab", "clocked", "solar").order_by("name")
    for task in tasks:
        if task.task == BACKEND_CLEANUP:
            reading.skipped.append(
                Unsupported(task.name, "beat_store declares celery.backend_cleanup itself when results need it")
            )
            continue
        try:
            reading.drafts.append(draft_from_periodic_task(task))
        except Unmappable as error:
            reading.unsupported.append(Unsupported(task.name, str(error)))
    return reading


def draft_from_periodic_task(task: Any) -> ScheduleDraft:
    """One ``PeriodicTask`` -> a draft (see the module's table); raises ``Unmappable`` saying why not."""
    trigger, zone = _trigger_of(task)
    fields: dict[str, Any] = {
        "task": task.task,
        "trigger": trigger,
        "description": task.description or "",
        "args": _json_field(task.args, "args", list, default=[]),
        "kwargs": _json_field(task.kwargs, "kwargs", dict, default={}),
        "headers": _json_field(task.headers, "headers", dict, default={}),
        "queue": task.queue or "",
        "exchange": task.exchange or "",
        "routing_key": task.routing_key or "",
        "priority": task.priority,
        "expires": float(task.expire_seconds) if task.expire_seconds is not None else None,
        "end_at": task.expires,
        "paused": not task.enabled,
    }
    if zone:
        fields["timezone"] = zone
    draft = ScheduleDraft(
        name=task.name,
        fields=fields,
        last_fire_at=task.last_run_at,
        one_off=task.one_off and task.clocked is None,
    )
    _place_start(draft, task.start_time, is_interval=task.interval is not None)
    return draft


def _trigger_of(task: Any) -> tuple[dict[str, Any], str | None]:

    trigger, zone = _raw_trigger_of(task)
    try:
        return validate_trigger_spec(trigger), zone
    except InvalidTrigger as error:
        raise Unmappable(f"its schedule does not make a valid trigger: {error}") from error


def _raw_trigger_of(task: Any) -> tuple[dict[str, Any], str | None]:
    if task.solar is not None:
        raise Unmappable(f"solar schedules ({task.solar.event}) have no beat_store trigger; use a cron at a fixed time")
    if task.interval is not None:
        return _interval_spec(task.interval.every, task.interval.period), None
    if task.crontab is not None:
        crontab = task.crontab
        expression = crontab_expression(
            crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week
        )
        return {"type": "cron", "expression": expression}, str(crontab.timezone)
    if task.clocked is not None:
        return {"type": "date", "run_at": task.clocked.clocked_time.isoformat()}, None
    raise Unmappable("it has no schedule (interval, crontab, clocked or solar)")


def _interval_spec(every: int, period: str) -> dict[str, Any]:
    if period == "microseconds":
        return {"type": "interval", "seconds": every / 1_000_000}
    if period not in _PERIOD_UNITS:
        raise Unmappable(f"unknown interval period {period!r}")
    return {"type": "interval", _PERIOD_UNITS[period]: every}


def _place_start(draft: ScheduleDraft, start_time: datetime | None, *, is_interval: bool) -> None:
    last_run = draft.last_fire_at
    if is_interval and last_run is not None and (start_time is None or start_time <= last_run):
        # django-celery-beat counts an interval from the last run: anchoring there keeps the phase, and a
        # start time already passed bounds nothing any more.
        draft.anchor_at = last_run
        draft.fields["start_at"] = None
    else:
        draft.fields["start_at"] = start_time


def _json_field(text: str | None, name: str, kind: type, *, default: Any) -> Any:
    if text is None or not str(text).strip():
        return default
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, a 5,000-digit number, nesting
        raise Unmappable(f"its {name} are not valid JSON: {error}") from error
    if not isinstance(value, kind):
        raise Unmappable(f"its {name} must be a JSON {'list' if kind is list else 'object'}, not {text!r}")
    return value
