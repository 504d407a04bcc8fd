"""Schedules -> records (plain JSON-able dicts of every docs/spec.md schedule field except beat's state)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from beat_store.exceptions import ScheduleLookupError
from beat_store.models import DEFINITION_FIELDS, Schedule

#: The fields a record carries, in the order files show them. ``source`` is left out: an imported schedule's
#: source is ``import``. State (``next_fire_at``, ``last_fire_at``) stays with the database it belongs to.
RECORD_FIELDS = DEFINITION_FIELDS
DATETIME_FIELDS = ("start_at", "end_at")


def schedule_to_record(schedule: Schedule) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name in RECORD_FIELDS:
        value = getattr(schedule, name)
        record[name] = value.isoformat() if isinstance(value, datetime) else value
    return record


def export_schedules(names: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Records of the schedules called ``names`` (all schedules when empty), by name.

    Raises ``ScheduleLookupError`` naming the first of ``names`` that is no schedule.
    """
    queryset = Schedule.objects.order_by("name")
    if names:
        queryset = queryset.filter(name__in=names)
    schedules = list(queryset)
    found = {schedule.name for schedule in schedules}
    for name in names:
        if name not in found:
            raise ScheduleLookupError(name)
    return [schedule_to_record(schedule) for schedule in schedules]
