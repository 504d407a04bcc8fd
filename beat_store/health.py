"""Is beat alive, and are runs succeeding? What ``beat_store_check`` (a liveness probe) evaluates.

Three questions, each answered by one query (runs missing: two):

- **beat seen lately**: the newest ``BeatHeartbeat.seen_at`` is at most ``max_beat_silence`` seconds old
  (beat records one per tick with :func:`record_beat_heartbeat`);
- **runs failing**: at most ``max_failed`` executions ended ``failed``, ``missed`` or ``lost`` among those
  whose fire time lies in the last ``window`` seconds;
- **runs missing**: no active schedule's ``next_fire_at`` is older than ``max_beat_silence`` seconds (a
  beat that ticks but never advances a schedule is as bad as no beat), and no run decided ahead still waits
  for its release that long past its send time (beat advanced the schedule past it when it staged it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from beat_store.enums import ExecutionStatus
from beat_store.models import BeatHeartbeat, Execution, Schedule

#: Final statuses that count as a run gone wrong.
FAILED_STATUSES = (ExecutionStatus.FAILED, ExecutionStatus.MISSED, ExecutionStatus.LOST)


def record_beat_heartbeat(owner: str, now: datetime) -> None:
    """Say that the beat ``owner`` finished a tick at ``now``: one UPDATE, plus an INSERT the first time."""
    if BeatHeartbeat.objects.filter(owner=owner).update(seen_at=now):
        return
    # Two ticks of one owner never run at once, so the insert cannot race with itself.
    BeatHeartbeat.objects.create(owner=owner, seen_at=now)


@dataclass(frozen=True)
class HealthThresholds:
    max_beat_silence: float = 60.0
    max_failed: int = 0
    window: float = 3600.0

    def __post_init__(self) -> None:
        if self.max_beat_silence <= 0:
            raise ValueError("the longest beat silence must be a positive number of seconds")
        if self.max_failed < 0:
            raise ValueError("the number of failed runs allowed must not be negative")
        if self.window <= 0:
            raise ValueError("the window must be a positive number of seconds")


@dataclass
class HealthReport:
    """Findings, each a line for the operator; healthy when ``problems`` is empty."""

    facts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def is_healthy(self) -> bool:
        return not self.problems


def evaluate_health(thresholds: HealthThresholds, *, now: datetime) -> HealthReport:
    """Answer the three questions of this module's docstring at ``now``."""
    report = HealthReport()
    _check_beat_seen(report, thresholds, now)
    _check_failed_runs(report, thresholds, now)
    _check_overdue_schedules(report, thresholds, now)
    return report


def _check_beat_seen(report: HealthReport, thresholds: HealthThresholds, now: datetime) -> None:
    latest = BeatHeartbeat.objects.order_by("-seen_at").values_list("owner", "seen_at").first()
    if latest is None:
        report.problems.append("no beat has ever been seen: is `celery beat -S beat_store.Scheduler` running?")
        return
    owner, seen_at = latest
    silence = (now - seen_at).total_seconds()
    if silence > thresholds.max_beat_silence:
        report.problems.append(
            f"no beat seen for {silence:.0f} s (limit {thresholds.max_beat_silence:g} s); "
            f"the last was {owner} at {seen_at.isoformat()}"
        )
    else:
        report.facts.append(f"beat {owner} seen {max(silence, 0):.0f} s ago")


def _check_failed_runs(report: HealthReport, thresholds: HealthThresholds, now: datetime) -> None:
    since = now - timedelta(seconds=thresholds.window)
    failed = Execution.objects.filter(status__in=FAILED_STATUSES, fire_time__gte=since).count()
    message = f"{failed} run(s) failed, missed or lost in the last {thresholds.window:g} s"
    if failed > thresholds.max_failed:
        report.problems.append(f"{message} (limit {thresholds.max_failed})")
    else:
        report.facts.append(message)


def _check_overdue_schedules(report: HealthReport, thresholds: HealthThresholds, now: datetime) -> None:
    overdue_before = now - timedelta(seconds=thresholds.max_beat_silence)
    overdue = list(
        Schedule.objects.active().filter(next_fire_at__lt=overdue_before).values_list("name", flat=True)[:11]
    )
    if overdue:
        report.problems.append(
            f"schedule(s) overdue by over {thresholds.max_beat_silence:g} s, not advanced by beat: {_names(overdue)}"
        )
    unreleased = _unreleased_before(overdue_before)
    if unreleased:
        report.problems.append(
            f"run(s) decided ahead still not released {thresholds.max_beat_silence:g} s past their send time, "
            f"of schedule(s): {_names(unreleased)}"
        )


def _unreleased_before(before: datetime) -> list[str]:
    """The schedules of runs decided ahead, due before ``before``, that no beat has released: beat moved their
    schedule's ``next_fire_at`` past them, so the check above cannot see them. On the status index (such runs are
    pending, and pending runs are few)."""
    late = Execution.objects.staged().filter(send_at__lt=before).order_by("send_at")
    return list(dict.fromkeys(late.values_list("schedule_name", flat=True)[:11]))


def _names(names: list[str]) -> str:
    """Up to ten names, and "..." when there are more (the queries ask for eleven)."""
    return ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
