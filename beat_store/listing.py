"""What ``beat_store_list`` shows: one row per schedule with its trigger in words, next fire time and the
status of its latest run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery

from beat_store.models import Execution, Schedule
from beat_store.timezones import format_moment
from beat_store.triggers import describe_trigger


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    trigger: str
    next_fire_at: datetime | None
    last_status: str
    paused: bool

    def as_json(self) -> dict[str, Any]:
        row = asdict(self)
        row["next_fire_at"] = self.next_fire_at.isoformat() if self.next_fire_at else None
        return row


def list_schedules() -> list[ScheduleRow]:
    """Every schedule, by name, with the status of its latest execution (one query). The next fire time is
    ``Schedule.upcoming_fire_at``: a run decided ahead is still the next one until it is released."""
    latest = Execution.objects.filter(schedule=OuterRef("pk")).order_by("-created_at", "-id").values("status")[:1]
    schedules = Schedule.objects.with_upcoming_fire().annotate(latest_status=Subquery(latest)).order_by("name")
    return [
        ScheduleRow(
            name=schedule.name,
            trigger=describe_trigger(schedule.trigger, schedule.timezone),
            next_fire_at=schedule.upcoming_fire_at,
            last_status=schedule.latest_status or "never run",
            paused=schedule.paused,
        )
        for schedule in schedules
    ]


def format_table(rows: list[ScheduleRow]) -> str:
    """The rows as a text table; times in the site's zone, as the admin shows them."""
    header = ("NAME", "TRIGGER", "NEXT FIRE TIME", "LAST STATUS")
    lines = [header] + [
        (
            row.name,
            row.trigger,
            "paused" if row.paused else (format_moment(row.next_fire_at) if row.next_fire_at else "finished"),
            row.last_status,
        )
        for row in rows
    ]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )
