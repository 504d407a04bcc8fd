"""Small HTML pieces shared by the admin pages: coloured statuses, times (all in the site's zone), durations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from beat_store import task_defaults
from beat_store.enums import ExecutionStatus
from beat_store.timezones import format_moment

if TYPE_CHECKING:
    from beat_store.models import Execution

#: Status -> colour; the chart and the badges share it so a colour means one thing everywhere.
STATUS_COLOURS: dict[str, str] = {
    ExecutionStatus.PENDING: "#8a8a8a",
    ExecutionStatus.SENT: "#3f7fbf",
    ExecutionStatus.STARTED: "#2a9dbf",
    ExecutionStatus.RETRYING: "#c9a227",
    ExecutionStatus.SUCCEEDED: "#2e8540",
    ExecutionStatus.FAILED: "#ba2121",
    ExecutionStatus.REVOKED: "#6f4a8e",
    ExecutionStatus.MISSED: "#d9822b",
    ExecutionStatus.SKIPPED: "#b5a642",
    ExecutionStatus.LOST: "#5a3a22",
}
EMPTY = "—"


def status_badge(status: str | None) -> SafeString | str:
    if not status:
        return EMPTY
    return format_html(
        '<span class="beat-store-status" style="background:{}">{}</span>',
        STATUS_COLOURS.get(status, "#8a8a8a"),
        ExecutionStatus(status).label if status in ExecutionStatus.values else status,
    )


def local_time(moment: datetime | None) -> str:
    """An instant in the site's zone, with seconds: "2026-11-29 14:45:15 CET" (see ``format_moment``)."""
    return EMPTY if moment is None else format_moment(moment)


def time_of_day(moment: datetime | None, *, reference: datetime) -> str:
    """A time next to ``reference`` (the fire time): just "14:45:15" on the same day, else the full time."""
    if moment is None:
        return EMPTY
    local = timezone.localtime(moment)
    if local.date() == timezone.localtime(reference).date():
        return f"{local:%H:%M:%S}"
    return format_moment(moment)


def run_status(execution: Execution) -> SafeString | str:
    """A run's status badge; for a run decided ahead and not yet released, with what it waits for."""
    badge = status_badge(execution.status)
    if execution.is_staged:
        return format_html("{} {}", badge, _staged_note(execution, now=timezone.now()))
    return badge


def _staged_note(execution: Execution, *, now: datetime) -> SafeString:
    """What a run decided ahead waits for: its release at its send time, or, past it, a release overdue (no beat
    released it: every beat down, or the broker unreachable)."""
    when = time_of_day(execution.send_at, reference=execution.fire_time)
    if execution.send_at > now:
        return format_html(
            '<small title="Decided ahead: its message waits in the broker.">· staged, released at {}</small>', when
        )
    return format_html(
        '<small class="beat-store-overdue" title="No beat has released it yet.">· staged, release overdue since {}'
        "</small>",
        when,
    )


def timestamp_column(field_name: str, description: str) -> Callable[[Any, Any], str]:
    """An admin column or read-only field showing the model's ``field_name`` with ``local_time``: Django's own
    rendering of a date-time has no seconds ("7:59 a.m.")."""

    @admin.display(description=description, ordering=field_name)
    def column(model_admin: Any, obj: Any) -> str:
        return local_time(getattr(obj, field_name))

    return column


def seconds(value: float | None) -> str:
    """A duration for people: "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min"."""
    if value is None:
        return EMPTY
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < 1:
        return f"{sign}{value * 1000:.0f} ms"
    if value < 60:
        return f"{sign}{value:.1f} s"
    if value < 3600:
        return f"{sign}{int(value // 60)} min {int(value % 60):02d} s"
    return f"{sign}{int(value // 3600)} h {int(value % 3600 // 60):02d} min"


#: How the admin names where a value in effect comes from (``task_defaults.Resolved.origin``).
_ORIGIN_WORDS = {"settings": "default from settings", "built-in": "beat_store's default"}


def defaults_in_effect(schedule: Any) -> str:
    """One line per field the schedule leaves unset: the value it runs with, and where that comes from."""
    lines = []
    for name in task_defaults.FIELDS:
        resolved = schedule.option_origin(name)
        if resolved.origin == "schedule":
            continue
        lines.append(f"{name}: {task_defaults.describe(name, resolved.value)} ({_ORIGIN_WORDS[resolved.origin]})")
    return "\n".join(lines) or "—"
