"""Schedules declared in settings (Celery's ``beat_schedule`` and ``BEAT_STORE_SCHEDULES``) and in schedule
files (``BEAT_STORE_SCHEDULE_FILES``), synced into the table when beat starts (and by ``beat_store_sync``):
declared rows are replaced, rows whose declaration was deleted are removed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery import Celery
from celery.schedules import crontab, schedule, solar
from django.core.exceptions import ValidationError
from django.db import transaction

from beat_store.api import add_schedule
from beat_store.conf import settings
from beat_store.enums import ScheduleSource
from beat_store.exceptions import BeatStoreError
from beat_store.models import Schedule
from beat_store.schedule_files import FileDeclarations, read_schedule_files
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
    #: Every name synced (added, updated or unchanged).
    saved: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: Settings declarations refused: name -> why.
    refused: dict[str, str] = field(default_factory=dict)
    #: File records refused: "<file>, schedule '<name>'" -> why (field: reason).
    file_refused: dict[str, str] = field(default_factory=dict)
    #: Files not read at all: file -> why. Their stored schedules are kept.
    unreadable: dict[str, str] = field(default_factory=dict)
    #: Names whose declaration was refused: their stored rows are left as they were, not removed.
    kept: set[str] = field(default_factory=set)

    @property
    def problems(self) -> list[str]:
        """One line per refused declaration or unreadable file, for the operator."""
        lines = [f"schedule {name!r} in settings: {reason}" for name, reason in self.refused.items()]
        lines += [f"{where}: {reason}" for where, reason in self.file_refused.items()]
        lines += [f"{reason} (the schedules stored from it are kept)" for reason in self.unreadable.values()]
        return lines


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


def sync_declared_schedules(app: Celery, *, dry_run: bool = False) -> SyncReport:
    """Write the declared schedules into the table and drop rows no longer declared.

    Settings declarations get the source ``settings``; those of ``BEAT_STORE_SCHEDULE_FILES`` get ``file`` (and
    the file in ``source_file``). A name declared twice is synced from its first declaration (settings, then
    the files in their listed order) and the others are refused, naming both. An entry that cannot be
    converted or validated is logged as an error naming it (and its file), and its existing row (if any) is
    left as it was; a file that cannot be read is logged, and none of the rows it declared is removed.
    ``dry_run`` makes the same writes in a transaction that is rolled back: the report says what would change.
    """
    declared, refused = declared_schedules(app)
    files = read_schedule_files(taken=set(declared) | set(refused), tasks=app.tasks)
    report = SyncReport(refused=dict(refused), file_refused=dict(files.refused), unreadable=dict(files.unreadable))
    with transaction.atomic() if dry_run else nullcontext():
        for name, fields in declared.items():
            _sync_one(name, fields, source=ScheduleSource.SETTINGS, origin=None, report=report)
        for name, declaration in files.schedules.items():
            _sync_one(name, declaration.fields, source=ScheduleSource.FILE, origin=declaration.path, report=report)
        keep = set(report.saved) | set(report.refused) | report.kept | files.refused_names
        _remove_undeclared(report, keep=keep, files=files)
        if dry_run:
            transaction.set_rollback(True)
    _log_refusals(report)
    return report


def _sync_one(
    name: str, fields: Mapping[str, Any], *, source: ScheduleSource, origin: str | None, report: SyncReport
) -> None:
    fields = dict(fields)
    before = Schedule.objects.filter(name=name).values_list("updated_at", flat=True).first()
    try:
        schedule = add_schedule(
            name,
            fields.pop("task", ""),
            fields.pop("trigger", None) or {},
            args=fields.pop("args", ()),
            kwargs=fields.pop("kwargs", None),
            conflict_policy="replace",
            source=source,
            **fields,
        )
    except _DECLARATION_ERRORS as error:
        if origin is None:
            report.refused[name] = _describe(error)
        else:
            report.file_refused[f"{origin}, schedule {name!r}"] = _describe(error)
        report.kept.add(name)
        return
    # Which file declares it: written apart (add_schedule does not take it), and only when it differs.
    moved = Schedule.objects.filter(pk=schedule.pk)
    moved = moved.exclude(source_file=origin) if origin is not None else moved.filter(source_file__isnull=False)
    relabelled = moved.update(source_file=origin)
    report.saved.append(name)
    if before is None:
        report.added.append(name)
    elif schedule.updated_at != before or relabelled:
        report.updated.append(name)
    else:
        report.unchanged.append(name)


def _remove_undeclared(report: SyncReport, *, keep: set[str], files: FileDeclarations) -> None:
    """Rows of settings or of files whose declaration is gone; never those of a file that could not be read."""
    stale = Schedule.objects.filter(source=ScheduleSource.SETTINGS).exclude(name__in=keep)
    kept_files = set(files.unreadable) | files.incomplete
    stale_from_files = Schedule.objects.filter(source=ScheduleSource.FILE).exclude(name__in=keep)
    if kept_files:
        stale_from_files = stale_from_files.exclude(source_file__in=kept_files)
    report.removed = sorted([*stale.values_list("name", flat=True), *stale_from_files.values_list("name", flat=True)])
    stale.delete()
    stale_from_files.delete()


def _log_refusals(report: SyncReport) -> None:
    for name, reason in report.refused.items():
        logger.error(
            "beat_store: schedule %r in settings was not synced: %s",
            name,
            reason,
            extra={"action": "sync_refused"},
        )
    for where, reason in report.file_refused.items():
        logger.error("beat_store: %s was not synced: %s", where, reason, extra={"action": "sync_refused"})
    for reason in report.unreadable.values():
        logger.error(
            "beat_store: schedule file not read, the schedules stored from it are kept: %s",
            reason,
            extra={"action": "sync_refused"},
        )


def _describe(error: Exception) -> str:
    if isinstance(error, ValidationError) and hasattr(error, "message_dict"):
        return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in error.message_dict.items())
    return str(error)
