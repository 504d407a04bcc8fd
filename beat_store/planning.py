"""Pure timing rules: a schedule's timing state and ``now`` in, the runs beat must record out.

Nothing here touches the database, Celery or the clock: ``now`` and the random generator are parameters, so
the store and the scheduler decide *when* to plan and this module only decides *what*. docs/spec.md "Timing rules"
1-5 and 8 are the contract.

Every datetime this module returns is in UTC. Python compares and subtracts two datetimes that share a
``tzinfo`` by wall clock, ignoring ``fold``, so two fire times on either side of a fall-back would compare
the wrong way round; working on UTC instants keeps ordering, spacing and equality (hence deterministic task
ids) right whatever zone the trigger works in.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from beat_store.enums import CoalescePolicy, ExecutionStatus

if TYPE_CHECKING:
    from beat_store.triggers import Trigger

__all__ = [
    "DEFAULT_MAX_CATCH_UP",
    "Plan",
    "PlannedRun",
    "SkippedSpan",
    "TimingPolicy",
    "due_fire_times",
    "plan_manual_run",
    "plan_runs",
]

DEFAULT_MAX_CATCH_UP = 1000

_TICK = timedelta(microseconds=1)  # datetimes resolve to microseconds: "strictly after t" is ">= t + _TICK"
_MICROSECONDS = 1_000_000
# After the catch-up seek lands in the right window, a regular trigger reaches the latest fire time in one or
# two steps; an irregular one (a burst of fire times) switches to bisection instead of walking the burst.
_WALK_LIMIT = 32


@dataclass(frozen=True)
class TimingPolicy:
    """How a schedule turns due fire times into runs (spec rules 2-5)."""

    coalesce: CoalescePolicy
    misfire_grace_time: float | None  # seconds; None = no start deadline
    max_instances: int  # >= 1
    jitter: float | None  # seconds; None or 0 = no jitter

    def __post_init__(self) -> None:
        # The models validate user input; these guard programming errors before they become odd runs.
        object.__setattr__(self, "coalesce", CoalescePolicy(self.coalesce))
        if isinstance(self.max_instances, bool) or self.max_instances < 1:
            raise ValueError(f"max_instances must be an integer >= 1, not {self.max_instances!r}")
        _check_seconds("misfire_grace_time", self.misfire_grace_time)
        _check_seconds("jitter", self.jitter)


@dataclass(frozen=True)
class PlannedRun:
    """One decision about one designated fire time; every planned run becomes an execution record."""

    fire_time: datetime  # designated fire time, before jitter
    jitter: float  # seconds; fire_time + jitter stays strictly before the trigger's following fire time
    send_at: datetime  # fire_time + jitter
    deadline_at: datetime | None  # send_at + misfire_grace_time; None when there is no grace limit
    status: ExecutionStatus  # PENDING (to send), MISSED (deadline passed), SKIPPED (max instances reached)
    reason: str  # short human text for MISSED and SKIPPED; "" for PENDING


@dataclass(frozen=True)
class SkippedSpan:
    """Fire times passed over without iterating them, because catching up on each would cost too much.

    ``first`` is exact; ``last`` is the fire time just before the latest due one when catch-up saw it, else
    None; ``approximate_count`` extrapolates from the spacing of the fire times that were iterated.
    """

    first: datetime
    last: datetime | None
    approximate_count: int | None


@dataclass(frozen=True)
class Plan:
    """What one planning pass decided for one schedule."""

    runs: tuple[PlannedRun, ...]
    next_fire_at: datetime | None  # first fire time > now; None = the trigger ran out (schedule finished)
    last_fire_at: datetime | None  # latest due fire time (run, missed or coalesced away); None = none was due
    skipped_span: SkippedSpan | None  # for the caller to log


def plan_runs(
    trigger: Trigger,
    *,
    next_fire_at: datetime,
    now: datetime,
    policy: TimingPolicy,
    open_executions: int,
    rng: random.Random,
    max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    prepare_until: datetime | None = None,
) -> Plan:
    """Decide the runs for every fire time from ``next_fire_at`` up to ``now``, and, with ``prepare_until``, the
    runs of the fire times after ``now`` up to it (decided ahead, see below).

    ``open_executions`` counts the schedule's executions that hold a max-instances slot (pending, sent,
    started, retrying). When nothing is due the plan has no runs, keeps ``next_fire_at`` and has
    ``last_fire_at`` None (keep the stored value). Errors raised by the trigger propagate: the caller pauses
    the schedule and records them.

    A fire time after ``now`` is not late, so it is neither coalesced nor missed: each gets a ``pending`` run with
    its jitter and deadline drawn now. Whether max instances let it start is left to the moment it is released
    (its verdict depends on runs still open then), so such runs do not take a slot here. At most
    ``max_catch_up`` of them are prepared in one plan; ``next_fire_at`` is then the first one left.
    """
    if open_executions < 0:
        raise ValueError(f"open_executions must be >= 0, not {open_executions!r}")
    due, skipped_span, following = due_fire_times(
        trigger, next_fire_at=next_fire_at, now=now, max_catch_up=max_catch_up
    )
    runs: tuple[PlannedRun, ...] = ()
    if due:
        followers = _following_fire_times(due, skipped_span, following)
        chosen = _coalesce(policy.coalesce, list(zip(due, followers, strict=True)))
        runs = _decide_runs(chosen, now=_as_utc(now), policy=policy, open_executions=open_executions, rng=rng)
    if prepare_until is not None and following is not None:
        ahead, following = _prepare_ahead(
            trigger, following, until=_as_utc(prepare_until), policy=policy, rng=rng, limit=max_catch_up
        )
        runs = (*runs, *ahead)
    return Plan(runs=runs, next_fire_at=following, last_fire_at=due[-1] if due else None, skipped_span=skipped_span)


def due_fire_times(
    trigger: Trigger, *, next_fire_at: datetime, now: datetime, max_catch_up: int = DEFAULT_MAX_CATCH_UP
) -> tuple[list[datetime], SkippedSpan | None, datetime | None]:
    """Every fire time ``next_fire_at <= t <= now``, the span skipped on the way, and the first one ``> now``.

    ``next_fire_at`` is itself the first due time when it is ``<= now`` (otherwise nothing is due, the
    trigger is not consulted and ``next_fire_at`` comes back as the next fire time). At most
    ``max_catch_up`` fire times are iterated; if more are due, the latest fire time ``<= now`` is found by a
    seek that costs a logarithmic number of trigger calls, the list holds the first ``max_catch_up`` times
    plus that latest one, and the times in between are reported as a :class:`SkippedSpan`. The list is
    strictly increasing. A next fire time of None means the trigger ran out.
    """
    if max_catch_up < 1:
        raise ValueError(f"max_catch_up must be >= 1, not {max_catch_up!r}")
    now = _as_utc(now)
    current = _as_utc(next_fire_at)
    if current > now:
        return [], None, current

    due = [current]
    upcoming = _next_after(trigger, current)
    while upcoming is not None and upcoming <= now and len(due) < max_catch_up:
        due.append(upcoming)
        upcoming = _next_after(trigger, upcoming)
    if upcoming is None or upcoming > now:
        return due, None, upcoming

    spacing = _spacing(due, upcoming)
    latest, before_latest = _seek_latest_due(trigger, first=upcoming, spacing=spacing, now=now)
    following = _next_after(trigger, latest)
    if latest == upcoming:  # only one more was due: nothing was actually skipped
        return [*due, latest], None, following
    span = SkippedSpan(
        first=upcoming,
        last=before_latest,
        approximate_count=_estimate_count(upcoming, latest, before_latest, spacing),
    )
    return [*due, latest], span, following


def plan_manual_run(*, now: datetime, policy: TimingPolicy, open_executions: int) -> PlannedRun:
    """A "run now": fire time and send time are ``now``, no jitter, start deadline per the grace time.

    Max instances still apply: the run is SKIPPED when ``open_executions`` already fills them.
    """
    if open_executions < 0:
        raise ValueError(f"open_executions must be >= 0, not {open_executions!r}")
    now = _as_utc(now)
    status, reason = _instances_verdict(open_executions, policy.max_instances)
    return PlannedRun(
        fire_time=now,
        jitter=0.0,
        send_at=now,
        deadline_at=_deadline(now, policy.misfire_grace_time),
        status=status,
        reason=reason,
    )


def _check_seconds(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0 or None, not {value!r}")


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"planning needs aware datetimes, got naive {moment.isoformat()}")
    return moment.astimezone(timezone.utc)


def _next_at_or_after(trigger: Trigger, moment: datetime) -> datetime | None:
    found = trigger.next_at_or_after(moment)
    if found is None:
        return None
    found = _as_utc(found)
    if found < moment:
        # A trigger going backwards would make catch-up loop for ever; fail loudly instead.
        raise ValueError(f"trigger {trigger!r} returned {found.isoformat()}, before {moment.isoformat()}")
    return found


def _next_after(trigger: Trigger, fire_time: datetime) -> datetime | None:
    return _next_at_or_after(trigger, fire_time + _TICK)


def _spacing(due: Sequence[datetime], upcoming: datetime) -> timedelta:
    """Mean gap between the fire times iterated so far (at least one microsecond)."""
    return max((upcoming - due[0]) / len(due), _TICK)


def _seek_latest_due(
    trigger: Trigger, *, first: datetime, spacing: timedelta, now: datetime
) -> tuple[datetime, datetime | None]:
    """The latest fire time ``<= now`` (knowing ``first <= now`` is one), and the one before it if seen."""
    window = 2 * spacing
    while True:
        seek_from = max(now - window, first)
        found = _next_at_or_after(trigger, seek_from)
        if seek_from == first or (found is not None and found <= now):
            # Searching from `first` itself cannot miss: `first` is a known due fire time.
            return _walk_to_latest(trigger, found if found is not None and found <= now else first, now)
        window *= 2


def _walk_to_latest(trigger: Trigger, start: datetime, now: datetime) -> tuple[datetime, datetime | None]:
    previous: datetime | None = None
    current = start
    for _ in range(_WALK_LIMIT):
        upcoming = _next_after(trigger, current)
        if upcoming is None or upcoming > now:
            return current, previous
        previous, current = current, upcoming
    return _bisect_latest(trigger, current, now), None


def _bisect_latest(trigger: Trigger, known: datetime, now: datetime) -> datetime:
    # Invariant: `low` is a fire time <= now, and no fire time lies in [high, now].
    low, high = known, now + _TICK
    while high - low > _TICK:
        middle = low + (high - low) // 2
        found = _next_at_or_after(trigger, middle)
        if found is not None and found <= now:
            low = found
        else:
            high = middle
    return low


def _estimate_count(first: datetime, latest: datetime, before_latest: datetime | None, spacing: timedelta) -> int:
    if before_latest == first:
        return 1
    return max(1, round((latest - first) / spacing))


def _following_fire_times(
    due: Sequence[datetime], skipped_span: SkippedSpan | None, following: datetime | None
) -> list[datetime | None]:
    """For each due fire time, the trigger's next fire time after it (the bound jitter must stay under)."""
    followers: list[datetime | None] = [*due[1:], following]
    if skipped_span is not None:
        # The fire time after the last iterated one is the span's first, not the latest due time.
        followers[-2] = skipped_span.first
    return followers


def _coalesce(
    policy: CoalescePolicy, due: list[tuple[datetime, datetime | None]]
) -> list[tuple[datetime, datetime | None]]:
    if policy == CoalescePolicy.LATEST:
        return due[-1:]
    if policy == CoalescePolicy.EARLIEST:
        return due[:1]
    return due


def _decide_runs(
    chosen: list[tuple[datetime, datetime | None]],
    *,
    now: datetime,
    policy: TimingPolicy,
    open_executions: int,
    rng: random.Random,
) -> tuple[PlannedRun, ...]:
    runs = []
    open_slots_taken = open_executions
    for fire_time, following in chosen:
        jitter_us = _draw_jitter_us(policy.jitter, fire_time, following, rng)
        send_at = fire_time + timedelta(microseconds=jitter_us)
        deadline_at = _deadline(send_at, policy.misfire_grace_time)
        if deadline_at is not None and deadline_at < now:
            late = (now - deadline_at).total_seconds()
            status = ExecutionStatus.MISSED
            reason = f"start deadline passed {late:.1f} s before beat could send it"
        else:
            # Missed runs are never sent, so only these take a max-instances slot.
            status, reason = _instances_verdict(open_slots_taken, policy.max_instances)
            if status == ExecutionStatus.PENDING:
                open_slots_taken += 1
        jitter = min(jitter_us / _MICROSECONDS, policy.jitter or 0.0)
        runs.append(PlannedRun(fire_time, jitter, send_at, deadline_at, status, reason))
    return tuple(runs)


def _prepare_ahead(
    trigger: Trigger, first: datetime, *, until: datetime, policy: TimingPolicy, rng: random.Random, limit: int
) -> tuple[list[PlannedRun], datetime | None]:
    """Runs for the fire times from ``first`` up to ``until`` (at most ``limit``), and the first fire time left."""
    runs: list[PlannedRun] = []
    current: datetime | None = first
    while current is not None and current <= until and len(runs) < limit:
        following = _next_after(trigger, current)
        jitter_us = _draw_jitter_us(policy.jitter, current, following, rng)
        send_at = current + timedelta(microseconds=jitter_us)
        jitter = min(jitter_us / _MICROSECONDS, policy.jitter or 0.0)
        deadline_at = _deadline(send_at, policy.misfire_grace_time)
        runs.append(PlannedRun(current, jitter, send_at, deadline_at, ExecutionStatus.PENDING, ""))
        current = following
    return runs, current


def _draw_jitter_us(jitter: float | None, fire_time: datetime, following: datetime | None, rng: random.Random) -> int:
    """A uniform jitter in whole microseconds, so the stored jitter and ``send_at`` agree exactly."""
    if not jitter:
        return 0
    limit_us = math.floor(jitter * _MICROSECONDS)
    if following is not None:
        limit_us = min(limit_us, (following - fire_time) // _TICK - 1)
    # Drawing through rng.random() alone keeps a subclass of Random (a test double) in full control.
    return min(int(rng.random() * (limit_us + 1)), limit_us)


def _deadline(send_at: datetime, misfire_grace_time: float | None) -> datetime | None:
    if misfire_grace_time is None:
        return None
    return send_at + timedelta(seconds=misfire_grace_time)


def _instances_verdict(open_executions: int, max_instances: int) -> tuple[ExecutionStatus, str]:
    if open_executions >= max_instances:
        return ExecutionStatus.SKIPPED, f"{open_executions} of max {max_instances} instances still running"
    return ExecutionStatus.PENDING, ""
