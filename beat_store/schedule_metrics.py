"""Per-schedule Prometheus series, only for the schedules that ask for them (``BEAT_STORE_METRICS_SCHEDULES``).

The aggregate series of ``beat_store.metrics`` never grow with the number of schedules. A team that wants to
alert on one job ("the nightly export has not succeeded for 25 hours") names it, or a glob pattern of names, in
the setting; those schedules, at most ``MAX_SCHEDULES_WITH_SERIES`` of them, get a few series labelled
``schedule``. Each is read through the history index (schedule, -fire_time), so a scrape costs a few index
lookups per selected schedule and nothing per schedule stored.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import DurationField, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.aggregates import Count

from beat_store.conf import settings
from beat_store.enums import ExecutionStatus
from beat_store.models import Execution, Schedule
from beat_store.name_patterns import is_pattern, pattern_regex

logger = logging.getLogger(__name__)

#: Keeps cardinality bounded even when a pattern matches many schedules: the first ones by name get series.
MAX_SCHEDULES_WITH_SERIES = 200


def selection_filter(patterns: Iterable[str]) -> Q | None:
    """A filter on ``Schedule.name`` matching the exact names and the ``*``/``?`` glob patterns given.

    Globs become one anchored regular expression (``name__regex``), which PostgreSQL, MariaDB/MySQL and SQLite
    all evaluate; exact names stay an indexed ``IN``. None when nothing is selected.
    """
    exact = [pattern for pattern in patterns if not is_pattern(pattern)]
    globs = [pattern_regex(pattern) for pattern in patterns if is_pattern(pattern)]
    selection = Q(name__in=exact) if exact else None
    if globs:
        by_glob = Q(name__regex=f"^(?:{'|'.join(globs)})$")
        selection = by_glob if selection is None else selection | by_glob
    return selection


def families(now: datetime, window: timedelta, gauge: Any) -> Iterator[Any]:
    """The per-schedule metric families; empty families when the setting selects nothing."""
    rows = _selected_rows()
    ids = {row["id"]: row["name"] for row in rows}
    yield from _recent_and_open(ids, now, window, gauge)
    yield from _from_schedule_rows(rows, gauge)


def _selected_rows() -> list[dict[str, Any]]:
    selection = selection_filter(settings.METRICS_SCHEDULES)
    if selection is None:
        return []
    newest = Execution.objects.filter(schedule=OuterRef("pk")).order_by("-fire_time")
    finished = newest.filter(status__in=ExecutionStatus.final_values())
    started = newest.filter(started_at__isnull=False)
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in Schedule.objects.filter(selection)
        .with_upcoming_fire()
        .order_by("name")
        .annotate(
            last_success_at=Subquery(newest.filter(status=ExecutionStatus.SUCCEEDED).values("fire_time")[:1]),
            last_finished_at=Subquery(finished.values("fire_time")[:1]),
            last_finished_status=Subquery(finished.values("status")[:1]),
            last_lateness=Subquery(
                started.annotate(
                    started_after=ExpressionWrapper(F("started_at") - F("fire_time"), output_field=DurationField())
                ).values("started_after")[:1]
            ),
        )
        .values(
            "id",
            "name",
            "upcoming_fire_at",
            "last_success_at",
            "last_finished_at",
            "last_finished_status",
            "last_lateness",
        )[: MAX_SCHEDULES_WITH_SERIES + 1]
    ]
    if len(rows) > MAX_SCHEDULES_WITH_SERIES:
        _warn_once_capped()
        rows = rows[:MAX_SCHEDULES_WITH_SERIES]
    return rows


@functools.cache
def _warn_once_capped() -> None:
    # Once per process: a scraper asks every 15 s or so, and the answer does not change between scrapes.
    logger.warning(
        "BEAT_STORE_METRICS_SCHEDULES selects more than %d schedules; only the first %d by name get series",
        MAX_SCHEDULES_WITH_SERIES,
        MAX_SCHEDULES_WITH_SERIES,
    )


def _recent_and_open(ids: dict[int, str], now: datetime, window: timedelta, gauge: Any) -> Iterator[Any]:
    recent = gauge(
        "beat_store_schedule_recent_runs",
        f"Runs of the schedule whose fire time lies in the last {window.total_seconds():g} s, by status.",
        labels=["schedule", "status"],
    )
    open_runs = gauge(
        "beat_store_schedule_open_runs", "Runs of the schedule holding a max-instances slot now.", labels=["schedule"]
    )
    if ids:
        counted = _count_by(
            Execution.objects.filter(schedule_id__in=ids, fire_time__gt=now - window, fire_time__lte=now),
            "schedule_id",
            "status",
        )
        open_counted = _count_by(Execution.objects.open().filter(schedule_id__in=ids), "schedule_id")
        for schedule_id, name in ids.items():
            for status in ExecutionStatus.values:
                recent.add_metric([name, status], counted.get((schedule_id, status), 0))
            open_runs.add_metric([name], open_counted.get((schedule_id,), 0))
    yield recent
    yield open_runs


def _count_by(queryset: Any, *fields: str) -> dict[tuple[Any, ...], int]:
    grouped = queryset.order_by().values(*fields).annotate(n=Count("id"))
    return {tuple(row[field] for field in fields): row["n"] for row in grouped}


def _from_schedule_rows(rows: list[dict[str, Any]], gauge: Any) -> Iterator[Any]:
    next_fire = gauge(
        "beat_store_schedule_next_fire_timestamp_seconds",
        "The schedule's next fire time, as a Unix time (absent when it has none); a run decided ahead and not yet "
        "released is still the next one.",
        labels=["schedule"],
    )
    last_success = gauge(
        "beat_store_schedule_last_success_timestamp_seconds",
        "Fire time of the schedule's newest succeeded run, as a Unix time (absent until one succeeds).",
        labels=["schedule"],
    )
    last_finished = gauge(
        "beat_store_schedule_last_finished_timestamp_seconds",
        "Fire time of the schedule's newest run in a final status, as a Unix time.",
        labels=["schedule"],
    )
    last_status = gauge(
        "beat_store_schedule_last_finished_status",
        "1 for the final status of the schedule's newest finished run, 0 for the others.",
        labels=["schedule", "status"],
    )
    last_lateness = gauge(
        "beat_store_schedule_last_lateness_seconds",
        "Fire time to the start on a worker, of the schedule's newest started run.",
        labels=["schedule"],
    )
    for row in rows:
        name = row["name"]
        _add_timestamp(next_fire, name, row["upcoming_fire_at"])
        _add_timestamp(last_success, name, row["last_success_at"])
        _add_timestamp(last_finished, name, row["last_finished_at"])
        if row["last_finished_status"]:
            for status in ExecutionStatus.final_values():
                last_status.add_metric([name, str(status)], 1 if row["last_finished_status"] == status else 0)
        if row["last_lateness"] is not None:
            last_lateness.add_metric([name], max(0.0, row["last_lateness"].total_seconds()))
    yield from (next_fire, last_success, last_finished, last_status, last_lateness)


def _add_timestamp(family: Any, name: str, moment: datetime | None) -> None:
    if moment is not None:
        family.add_metric([name], moment.timestamp())
