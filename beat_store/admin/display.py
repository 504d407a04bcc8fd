"""Small HTML pieces shared by the admin pages: coloured statuses, times in a schedule's zone."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from beat_store.enums import ExecutionStatus
from beat_store.exceptions import InvalidTrigger
from beat_store.timezones import get_zone

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


def in_zone(moment: datetime | None, zone_name: str) -> str:
    """``moment`` as a wall time of the zone, with the zone's abbreviation: "2026-03-29 03:00:00 CEST"."""
    if moment is None:
        return EMPTY
    try:
        zone = get_zone(zone_name)
    except InvalidTrigger:
        return f"{moment:%Y-%m-%d %H:%M:%S %Z}"
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}"


def compact_time(moment: datetime | None, *, with_year: bool = True) -> str:
    """A list-column time in the site's zone: "2026-11-29 14:45:15 UTC", or "11-29 14:45:15" without year."""
    if moment is None:
        return EMPTY
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M:%S %Z}" if with_year else f"{local:%m-%d %H:%M:%S}"


def time_of_day(moment: datetime | None, *, reference: datetime) -> str:
    """A time next to ``reference`` (the fire time): just "14:45:15" on the same day, else with the date."""
    if moment is None:
        return EMPTY
    local = timezone.localtime(moment)
    if local.date() == timezone.localtime(reference).date():
        return f"{local:%H:%M:%S}"
    return compact_time(moment, with_year=False)


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
