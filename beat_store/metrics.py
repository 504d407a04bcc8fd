"""Prometheus metrics read from the database, so every scrape sees the work of every beat and worker alike.

A collector of ``prometheus-client`` (the ``metrics`` extra) whose samples are a handful of aggregate queries,
none of which grows with the number of schedules beyond one ``COUNT`` over the schedule table: runs are counted
within a recent window (``BEAT_STORE_METRICS_WINDOW`` seconds) through the fire-time index, open runs through
the status index. The series have fixed labels (statuses, states, bucket bounds, the beats alive), so their
number stays bounded however many schedules there are; per-schedule series exist only for the schedules
``BEAT_STORE_METRICS_SCHEDULES`` names (``beat_store.schedule_metrics``). docs/howto/metrics.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, Max, Min, OuterRef, Q
from django.utils import timezone

from beat_store import schedule_metrics
from beat_store.conf import settings
from beat_store.enums import ExecutionStatus
from beat_store.models import BeatHeartbeat, Execution, Schedule

#: Upper bounds (seconds) of the lateness histogram: fire time to the start on a worker.
LATENESS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
#: A beat whose last tick is older than this is not counted alive.
BEAT_ALIVE_WITHIN = timedelta(seconds=60)


class DatabaseCollector:
    """Yields beat_store's metric families at each scrape (see this module's docstring)."""

    def __init__(self, *, now: datetime | None = None) -> None:
        self._now = now

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        now = self._now or timezone.now()
        window = timedelta(seconds=settings.METRICS_WINDOW)
        recent = Execution.objects.filter(fire_time__gt=now - window, fire_time__lte=now)

        runs = GaugeMetricFamily(
            "beat_store_recent_runs",
            f"Runs whose fire time lies in the last {window.total_seconds():g} s (BEAT_STORE_METRICS_WINDOW), "
            "by status.",
            labels=["status"],
        )
        counted = dict(recent.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        for status in ExecutionStatus.values:
            runs.add_metric([status], counted.get(status, 0))
        yield runs

        open_runs = GaugeMetricFamily(
            "beat_store_open_runs", "Runs holding a max-instances slot now, by status.", labels=["status"]
        )
        open_counted = dict(
            Execution.objects.open().order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
        )
        for status in ExecutionStatus.open_values():
            open_runs.add_metric([str(status)], open_counted.get(status, 0))
        yield open_runs

        yield self._lateness(recent, window)
        yield from self._sending(now, window, GaugeMetricFamily)
        yield from self._beats(now, GaugeMetricFamily)
        yield self._schedules(GaugeMetricFamily)
        yield from schedule_metrics.families(now, window, GaugeMetricFamily)

    @staticmethod
    def _lateness(recent: Any, window: timedelta) -> Any:
        from prometheus_client.core import HistogramMetricFamily

        started = recent.filter(started_at__isnull=False).annotate(
            lateness=ExpressionWrapper(F("started_at") - F("fire_time"), output_field=DurationField())
        )
        aggregates = {
            f"le_{index}": Count("id", filter=Q(lateness__lte=timedelta(seconds=bound)))
            for index, bound in enumerate(LATENESS_BUCKETS)
        }
        counts = started.aggregate(total=Count("id"), **aggregates)
        buckets = [(str(bound), counts[f"le_{index}"]) for index, bound in enumerate(LATENESS_BUCKETS)]
        buckets.append(("+Inf", counts["total"]))
        histogram = HistogramMetricFamily(
            "beat_store_run_lateness_seconds",
            f"Fire time to the start on a worker, of runs started whose fire time lies in the last "
            f"{window.total_seconds():g} s (the sum is not kept: 0).",
        )
        histogram.add_metric([], buckets, sum_value=0)
        return histogram

    @staticmethod
    def _sending(now: datetime, window: timedelta, gauge: Any) -> Iterator[Any]:
        oldest = Execution.objects.filter(status=ExecutionStatus.PENDING, send_at__lte=now).aggregate(
            at=Min("send_at")
        )["at"]
        pending = gauge(
            "beat_store_oldest_pending_run_seconds",
            "How long the oldest run due to be sent has waited (0: none waits).",
        )
        pending.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        yield pending
        lag = Execution.objects.filter(sent_at__gt=now - window, fire_time__gt=now - window).aggregate(
            worst=Max(ExpressionWrapper(F("sent_at") - F("send_at"), output_field=DurationField()))
        )["worst"]
        herd = gauge(
            "beat_store_send_lag_seconds",
            f"The longest a run sent in the last {window.total_seconds():g} s waited past its send time "
            "(a herd's lag).",
        )
        herd.add_metric([], max(0.0, lag.total_seconds()) if lag else 0.0)
        yield herd

    @staticmethod
    def _beats(now: datetime, gauge: Any) -> Iterator[Any]:
        alive = list(BeatHeartbeat.objects.filter(seen_at__gte=now - BEAT_ALIVE_WITHIN).values_list("owner", "seen_at"))
        count = gauge("beat_store_beats_alive", f"Beats that ticked in the last {BEAT_ALIVE_WITHIN.seconds} s.")
        count.add_metric([], len(alive))
        yield count
        last_tick = gauge(
            "beat_store_beat_last_tick_seconds", "Seconds since each beat alive last ticked.", labels=["owner"]
        )
        for owner, seen_at in alive:
            last_tick.add_metric([owner], max(0.0, (now - seen_at).total_seconds()))
        yield last_tick

    @staticmethod
    def _schedules(gauge: Any) -> Any:
        # A schedule whose last fire time is decided ahead is active until that run is released (Schedule.is_finished).
        staged = Exists(Execution.objects.staged().filter(schedule=OuterRef("pk")))
        counts = Schedule.objects.aggregate(
            in_active=Count("id", filter=Q(paused=False) & (Q(next_fire_at__isnull=False) | Q(staged))),
            in_paused=Count("id", filter=Q(paused=True)),
            in_finished=Count(
                "id", filter=Q(paused=False, next_fire_at__isnull=True, finished_at__isnull=False) & ~Q(staged)
            ),
        )
        schedules = gauge("beat_store_schedules", "Schedules by state.", labels=["state"])
        for state in ("active", "paused", "finished"):
            schedules.add_metric([state], counts[f"in_{state}"])
        return schedules


def exposition(*, now: datetime | None = None) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(now=now))
    return generate_latest(registry), CONTENT_TYPE_LATEST
