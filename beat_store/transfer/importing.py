"""Drafts -> schedules, in one transaction, idempotently.

Every source (a file, django-celery-beat, redbeat) produces :class:`ScheduleDraft` values and, for what it
cannot express, :class:`Unsupported` entries. :func:`import_drafts` then:

- creates missing schedules and updates differing ones (source ``import``); a schedule whose fields all match
  is reported ``unchanged`` and not written, so a second run changes nothing;
- carries the source's last run over: ``last_fire_at`` is the last run and ``next_fire_at`` the trigger's
  first fire time after it, so nothing fires twice or is skipped on the switch (applied when the schedule is
  created, when its timing changes, or when the source ran it more recently than beat_store did);
- writes nothing at all when any draft fails validation, or when entries are unsupported and
  ``skip_unsupported`` is false, or on a dry run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils.dateparse import parse_datetime

from beat_store.enums import ScheduleSource
from beat_store.exceptions import BeatStoreError
from beat_store.models import Schedule
from beat_store.transfer.exporting import DATETIME_FIELDS, RECORD_FIELDS
from beat_store.triggers import validate_trigger_spec

ONE_MICROSECOND = timedelta(microseconds=1)


class InvalidRecord(BeatStoreError, ValueError):
    """A record of a file cannot become a schedule draft."""


@dataclass
class ScheduleDraft:
    """What one imported schedule should look like.

    ``fields`` holds record fields (``RECORD_FIELDS`` without ``name``); the missing ones take the model's
    defaults. ``last_fire_at`` is the source's last run, ``anchor_at`` the moment an interval counts from when
    it has no ``start_at`` (used when the schedule is created), and ``one_off`` ends the schedule after its
    next fire time.
    """

    name: str
    fields: dict[str, Any]
    last_fire_at: datetime | None = None
    anchor_at: datetime | None = None
    one_off: bool = False


@dataclass(frozen=True)
class Unsupported:
    """A source entry that cannot be imported exactly, and why."""

    name: str
    reason: str


@dataclass
class ImportReport:
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Unsupported] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    errors: list[Unsupported] = field(default_factory=list)
    written: bool = False

    def lines(self) -> list[str]:
        """One line per schedule, for the operator."""
        prefix = "would be " if self.dry_run or not self.written else ""
        lines = [f"{prefix}created: {name}" for name in self.created]
        lines += [f"{prefix}updated: {name}" for name in self.updated]
        lines += [f"unchanged: {name}" for name in self.unchanged]
        lines += [f"skipped: {entry.name}: {entry.reason}" for entry in self.skipped]
        lines += [f"unsupported: {entry.name}: {entry.reason}" for entry in self.unsupported]
        lines += [f"error: {entry.name}: {entry.reason}" for entry in self.errors]
        # A name read from a file can hold what no terminal prints (a lone surrogate from "\ud800"): escaped.
        return [line.encode("utf-8", "backslashreplace").decode("utf-8") for line in lines]


def draft_from_record(record: Mapping[str, Any]) -> ScheduleDraft:
    """A file record (see ``formats``) -> a draft; raises ``InvalidRecord`` naming the schedule and field."""
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRecord(f"a schedule has no 'name' (its fields: {', '.join(sorted(map(str, record)))})")
    unknown = set(record) - set(RECORD_FIELDS)
    if unknown:
        raise InvalidRecord(f"{name}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    for required in ("task", "trigger"):
        if required not in record:
            raise InvalidRecord(f"{name}: the field {required!r} is required")
    fields = {key: value for key, value in record.items() if key != "name"}
    for key in DATETIME_FIELDS:
        if fields.get(key) is not None:
            fields[key] = _parse_aware(name, key, fields[key])
    return ScheduleDraft(name=name, fields=fields)


def import_drafts(
    drafts: Iterable[ScheduleDraft],
    *,
    now: datetime,
    unsupported: Iterable[Unsupported] = (),
    skipped: Iterable[Unsupported] = (),
    skip_unsupported: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Write ``drafts`` (see this module's docstring); the report says what happened to each schedule.

    The writes are made, then rolled back unless everything succeeded and this is no dry run: a dry run
    therefore meets every error a real run would.
    """
    report = ImportReport(dry_run=dry_run, unsupported=list(unsupported), skipped=list(skipped))
    seen: set[str] = set()
    with transaction.atomic():
        for draft in drafts:
            if draft.name in seen:
                report.errors.append(Unsupported(draft.name, "the name appears twice"))
                continue
            seen.add(draft.name)
            _import_one(draft, now=now, report=report)
        blocked = report.errors or (report.unsupported and not skip_unsupported)
        report.written = not (blocked or dry_run)
        if not report.written:
            transaction.set_rollback(True)
    return report


def _import_one(draft: ScheduleDraft, *, now: datetime, report: ImportReport) -> None:
    try:
        # A savepoint per schedule: one failing row must not poison the others' queries (PostgreSQL).
        with transaction.atomic():
            outcome = write_draft(draft, now=now)
    except ValidationError as error:
        report.errors.append(Unsupported(draft.name, _describe_validation(error)))
        return
    except (BeatStoreError, TypeError, ValueError, ArithmeticError, DatabaseError) as error:
        # BeatStoreError: InvalidTrigger, and TriggerGaveUp/TriggerTooSlow from carrying the last run over.
        report.errors.append(Unsupported(draft.name, str(error)))
        return
    getattr(report, outcome).append(draft.name)


def write_draft(draft: ScheduleDraft, *, now: datetime) -> str:
    """Create or update one schedule; returns ``"created"``, ``"updated"`` or ``"unchanged"``."""
    values = {**_defaults(), **draft.fields, "source": ScheduleSource.IMPORT}
    values["trigger"] = validate_trigger_spec(values["trigger"])
    existing = Schedule.objects.select_for_update().filter(name=draft.name).first()
    if existing is None:
        schedule = Schedule(name=draft.name, **values)
        if draft.anchor_at is not None:
            schedule.created_at = draft.anchor_at
        schedule.full_clean()
        schedule.save()
        _carry_state_over(schedule, draft, now=now)
        return "created"
    if draft.one_off:
        # Its end was derived from the first fire time at the first import; deriving it again would move it.
        values["end_at"] = existing.end_at
    changed = {name: value for name, value in values.items() if getattr(existing, name) != value}
    ran_since = draft.last_fire_at is not None and (
        existing.last_fire_at is None or draft.last_fire_at > existing.last_fire_at
    )
    if not changed and not ran_since:
        return "unchanged"
    for name, value in changed.items():
        setattr(existing, name, value)
    existing.full_clean(validate_unique=False)
    existing.save()
    if ran_since or set(changed) & {"trigger", "timezone", "start_at", "end_at"}:
        _carry_state_over(existing, draft, now=now)
    return "updated"


def _carry_state_over(schedule: Schedule, draft: ScheduleDraft, *, now: datetime) -> None:

    updates: dict[str, Any] = {}
    next_fire_at = schedule.next_fire_at
    if draft.last_fire_at is not None:
        next_fire_at = schedule.build_trigger().next_at_or_after(draft.last_fire_at + ONE_MICROSECOND)
        updates.update(
            last_fire_at=draft.last_fire_at,
            next_fire_at=next_fire_at,
            finished_at=None if next_fire_at else now,
        )
    if draft.one_off and schedule.end_at is None and next_fire_at is not None:
        updates["end_at"] = next_fire_at
    if updates:
        # updated_at says these timing fields were written knowingly (migration 0007's trigger leaves them be).
        updates["updated_at"] = now
        Schedule.objects.filter(pk=schedule.pk).update(**updates)
        for name, value in updates.items():
            setattr(schedule, name, value)


def _defaults() -> dict[str, Any]:

    return {
        name: Schedule._meta.get_field(name).get_default()  # type: ignore[union-attr]
        for name in RECORD_FIELDS
        if name not in ("name", "task", "trigger")
    }


def _parse_aware(name: str, key: str, value: Any) -> datetime:
    try:
        parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidRecord(f"{name}: {key} = {value!r} is not an ISO 8601 date and time")
    if parsed.tzinfo is None:
        raise InvalidRecord(f"{name}: {key} = {value!r} needs a UTC offset, e.g. 2026-01-01T09:00:00+00:00")
    return parsed


def _describe_validation(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in error.message_dict.items())
    return " ".join(error.messages)
