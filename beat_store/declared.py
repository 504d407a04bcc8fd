"""Schedules declared in settings (Celery's ``beat_schedule`` and ``BEAT_STORE_SCHEDULES``), synced into the
table when beat starts: declared rows are replaced, rows whose declaration was deleted are removed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab, schedule, solar
from django.core.exceptions import ValidationError

from beat_store.api import add_schedule
from beat_store.conf import settings
from beat_store.enums import ScheduleSource
from beat_store.exceptions import BeatStoreError
from beat_store.models import Schedule
from beat_store.triggers.cron_syntax import crontab_expression

logger = logging.getLogger(__name__)

#: What a declaration with bad values raises on its way into the table: it is refused and logged, beat starts.
_DECLARATION_ERRORS = (ValidationError, BeatStoreError, TypeError, ValueError, ArithmeticError, LookupError)

#: Celery entry options copied onto the schedule's message-option columns.
_MESSAGE_OPTIONS = ("queue", "exchange", "routing_key", "priority", "expires", "headers")


class UnconvertibleEntry(ValueError):
    """A ``beat_schedule`` entry beat_store cannot express (e.g. a ``solar`` schedule)."""


@dataclass
class SyncReport:
    saved: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def convert_celery_schedule(value: Any) -> dict[str, Any]:
    """Celery's ``crontab``, ``timedelta``, seconds or ``schedule(run_every=...)`` -> a trigger spec."""
    if isinstance(value, solar):
        raise UnconvertibleEntry(
            "solar schedules (sunrise/sunset) have no beat_store trigger; use a cron trigger at a fixed time"
        )
    if isinstance(value, crontab):
        # crontab keeps the fields as written (before expanding them to sets) in these attributes.
        fields = (
            getattr(value, f"_orig_{name}")
            for name in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        )
        return {"type": "cron", "expression": crontab_expression(*fields)}
    if isinstance(value, schedule):
        value = getattr(value, "run_every")  # noqa: B009 (missing from celery-types)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if isinstance(value, timedelta):
        if value.total_seconds() <= 0:
            raise UnconvertibleEntry("the interval must be longer than zero")
        return {"type": "interval", "seconds": value.total_seconds()}
    raise UnconvertibleEntry(f"unsupported schedule type {type(value).__name__}")


def celery_entry_fields(entry: Mapping[str, Any], *, app: Celery) -> dict[str, Any]:
    """A ``beat_schedule`` entry -> ``add_schedule`` arguments."""
    if "task" not in entry:
        raise UnconvertibleEntry("the entry has no 'task'")
    if "schedule" not in entry:
        raise UnconvertibleEntry("the entry has no 'schedule'")
    fields: dict[str, Any] = {
        "task": entry["task"],
        "trigger": convert_celery_schedule(entry["schedule"]),
        "args": list(entry.get("args") or ()),
        "kwargs": dict(entry.get("kwargs") or {}),
        # Celery evaluates a beat_schedule crontab in its own timezone setting, so the entry keeps that zone.
        "timezone": str(app.conf.timezone or settings.DEFAULT_TIMEZONE),
    }
    options = dict(entry.get("options") or {})
    for name in _MESSAGE_OPTIONS:
        if options.get(name) is not None:
            fields[name] = options[name]
    if "expires" in fields and isinstance(fields["expires"], timedelta):
        fields["expires"] = fields["expires"].total_seconds()
    return fields


def declared_schedules(app: Celery) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Every schedule declared in settings, as ``add_schedule`` arguments, and those refused (name -> why)."""
    declared: dict[str, dict[str, Any]] = {}
    refused: dict[str, str] = {}
    entries = dict(app.conf.beat_schedule or {})
    if app.conf.result_expires and not app.backend.supports_autoexpire:
        # What Celery's own beat installs by default, so switching schedulers keeps results expiring.
        entries.setdefault(
            "celery.backend_cleanup",
            {
                "task": "celery.backend_cleanup",
                "schedule": crontab("0", "4", "*"),
                "options": {"expires": 12 * 3600},
            },
        )
    for name, entry in entries.items():
        try:
            declared[name] = celery_entry_fields(entry, app=app)
        except _DECLARATION_ERRORS as error:
            refused[str(name)] = str(error)
    for name, fields in settings.SCHEDULES.items():
        if isinstance(fields, Mapping):
            declared[name] = dict(fields)
        else:
            refused[str(name)] = f"a declared schedule is a dict of its fields, not {type(fields).__name__}"
    return declared, refused


def sync_declared_schedules(app: Celery) -> SyncReport:
    """Write the declared schedules into the table (source ``settings``) and drop rows no longer declared.

    An entry that cannot be converted or validated is logged as an error naming it, and its existing row (if
    any) is left as it was.
    """
    declared, refused = declared_schedules(app)
    report = SyncReport(refused=dict(refused))
    for name, fields in declared.items():
        fields = dict(fields)
        try:
            add_schedule(
                name,
                fields.pop("task", ""),
                fields.pop("trigger", None) or {},
                args=fields.pop("args", ()),
                kwargs=fields.pop("kwargs", None),
                conflict_policy="replace",
                source=ScheduleSource.SETTINGS,
                **fields,
            )
            report.saved.append(name)
        except _DECLARATION_ERRORS as error:
            report.refused[name] = _describe(error)
    for name, reason in report.refused.items():
        logger.error(
            "beat_store: schedule %r in settings was not synced: %s",
            name,
            reason,
            extra={"action": "sync_refused"},
        )
    keep = set(declared) | set(report.refused)
    stale = Schedule.objects.filter(source=ScheduleSource.SETTINGS).exclude(name__in=keep)
    report.removed = sorted(stale.values_list("name", flat=True))
    stale.delete()
    return report


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError) and hasattr(error, "message_dict"):
        return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in error.message_dict.items())
    return str(error)
