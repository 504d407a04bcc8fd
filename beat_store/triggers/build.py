"""From a JSON spec to a trigger object, and the public preview ``next_fire_times``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, time, timedelta, tzinfo
from datetime import timezone as dt_timezone
from functools import lru_cache
from typing import Any

from django.utils import timezone as django_timezone

from beat_store.conf import settings
from beat_store.exceptions import InvalidTrigger
from beat_store.timezones import get_zone
from beat_store.triggers.base import ONE_MICROSECOND, Trigger, to_utc
from beat_store.triggers.bounds import BoundedTrigger, ShownInZone
from beat_store.triggers.budget import TimeBudgeted
from beat_store.triggers.calendar_interval import CalendarIntervalTrigger
from beat_store.triggers.combining import AND_MAX_ITERATIONS, AND_THRESHOLD, AndTrigger, OrTrigger
from beat_store.triggers.cron import CronTrigger, fields_of
from beat_store.triggers.date import DateTrigger
from beat_store.triggers.interval import IntervalTrigger
from beat_store.triggers.spec import INTERVAL_UNITS, join_path, parse_run_at, validate_trigger_spec
from beat_store.triggers.wallclock import ambiguous_span, classify_wall_time, resolve_wall_time

_UNUSED_ANCHOR = datetime(2000, 1, 1, tzinfo=dt_timezone.utc)


def anchor_of(start_at: datetime | None, created_at: datetime) -> datetime:
    """Where a schedule's interval and calendar triggers count from, and where its first fire time is looked
    for: its ``start_at``, else the moment it was created (spec rule 8)."""
    return start_at or created_at


def build_trigger(
    spec: Mapping[str, Any],
    *,
    timezone: str | tzinfo,
    anchor: datetime,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> Trigger:
    """Validate ``spec`` and build its trigger; raise ``InvalidTrigger`` on bad input.

    ``anchor`` (aware) is the first fire time of an ``interval`` trigger and the start date (read in
    ``timezone``) of a ``calendarinterval`` trigger; other kinds ignore it. ``start_at``/``end_at`` bound
    every kind: no fire time before ``start_at`` or after ``end_at``. Each fire time it computes runs under
    ``BEAT_STORE_TRIGGER_TIME_BUDGET`` (``TriggerTooSlow`` past it).
    """
    zone = resolve_zone(timezone)
    _require_aware(start_at, "start_at")  # before the anchor, which is often start_at: name the user's field
    _require_aware(end_at, "end_at")
    _require_aware(anchor, "anchor")
    if start_at is not None and end_at is not None and to_utc(end_at) < to_utc(start_at):
        raise InvalidTrigger("end_at", "must not be earlier than start_at")
    trigger = _build_cached(spec, zone, anchor)
    if start_at is not None or end_at is not None:
        trigger = BoundedTrigger(trigger, start_at, end_at)
    return TimeBudgeted(trigger, settings.TRIGGER_TIME_BUDGET)


def _build_cached(spec: Mapping[str, Any], zone: tzinfo, anchor: datetime) -> Trigger:
    """Validated and built once per distinct (spec, zone, and anchor when the kind uses one).

    Beat builds a trigger for every due schedule on every tick; in a herd most share a spec (``* * * * *``),
    and parsing a crontab costs far more than finding its next fire time. Trigger objects are immutable.
    """
    try:
        spec_key = json.dumps(spec, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        return _build(validate_trigger_spec(spec), zone, anchor)  # not JSON: let validation say why
    return _build_from_key(spec_key, zone, to_utc(anchor) if _uses_anchor(spec) else None)


@lru_cache(maxsize=4096)
def _build_from_key(spec_key: str, zone: tzinfo, anchor: datetime | None) -> Trigger:
    # Kinds that ignore the anchor are cached without one; any aware datetime does for them.
    return _build(validate_trigger_spec(json.loads(spec_key)), zone, anchor or _UNUSED_ANCHOR)


def _uses_anchor(spec: object) -> bool:
    if not isinstance(spec, Mapping):
        return True  # not a valid spec: keep the anchor, validation will refuse it anyway
    if spec.get("type") in ("interval", "calendarinterval"):
        return True
    members = spec.get("triggers")
    return isinstance(members, list) and any(_uses_anchor(member) for member in members)


def resolve_zone(timezone: str | tzinfo) -> tzinfo:
    if isinstance(timezone, tzinfo):
        return timezone
    return get_zone(timezone)


def _require_aware(moment: datetime | None, field: str) -> None:
    if moment is None:
        return
    if not isinstance(moment, datetime):
        raise InvalidTrigger(field, f"must be a datetime, not {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise InvalidTrigger(field, "must be timezone-aware")


def _build(spec: Mapping[str, Any], zone: tzinfo, anchor: datetime, path: str = "") -> Trigger:
    """A trigger of a normalised spec; a member's own ``timezone`` and bounds (``start_at`` also anchors it)
    apply to it and to its own members."""
    own_zone = get_zone(spec["timezone"]) if "timezone" in spec else zone
    start_at, end_at = (
        aware_bound(parse_run_at(spec[key]), own_zone, join_path(path, key)) if key in spec else None
        for key in ("start_at", "end_at")
    )
    if start_at is not None and end_at is not None and to_utc(end_at) < to_utc(start_at):
        raise InvalidTrigger(join_path(path, "end_at"), "must not be earlier than start_at")
    trigger = _build_kind(spec, own_zone, anchor_of(start_at, anchor), path)
    if start_at is not None or end_at is not None:
        trigger = BoundedTrigger(trigger, start_at, end_at)
    return trigger if own_zone is zone else ShownInZone(trigger, zone)


def aware_bound(moment: datetime, zone: tzinfo, field: str) -> datetime:
    """A bound as an instant. An aware bound is itself; a naive one is a wall time in ``zone``, at its first
    occurrence when a DST fold repeats it. A naive bound skipped by a DST gap names no instant: refused (raises
    ``InvalidTrigger(field, ...)``), as APScheduler 4 refuses it, rather than moved."""
    if moment.utcoffset() is not None:
        return moment
    naive = moment.replace(fold=0)
    if classify_wall_time(naive, zone) == "gap":
        gap_start, gap_end = ambiguous_span(naive, zone)
        raise InvalidTrigger(
            field,
            f"{naive.isoformat()} does not exist in {zone}: the clocks go forward from {gap_start:%H:%M} to "
            f"{gap_end:%H:%M} that day (DST gap); give a time outside the gap, or one with a UTC offset",
        )
    return naive.replace(tzinfo=zone)


def _build_kind(spec: Mapping[str, Any], zone: tzinfo, anchor: datetime, path: str) -> Trigger:
    kind = spec["type"]
    if kind == "interval":
        period = timedelta(**{unit: spec[unit] for unit in INTERVAL_UNITS})
        return IntervalTrigger(period, anchor, zone)
    if kind == "date":
        run_at = parse_run_at(spec["run_at"])
        if run_at.utcoffset() is None:
            return DateTrigger(resolve_wall_time(run_at, zone))
        return DateTrigger(run_at.astimezone(zone))
    if kind == "cron":
        return CronTrigger(fields_of(spec), zone)
    if kind == "calendarinterval":
        return CalendarIntervalTrigger(
            months=spec["years"] * 12 + spec["months"],
            days=spec["weeks"] * 7 + spec["days"],
            time_of_day=time(spec["hour"], spec["minute"], spec["second"]),
            start_date=anchor.astimezone(zone).date(),
            zone=zone,
        )
    members = [
        _build(member, zone, anchor, join_path(path, f"triggers.{index}"))
        for index, member in enumerate(spec["triggers"])
    ]
    if kind == "or":
        return OrTrigger(members)
    return AndTrigger(
        members,
        threshold=timedelta(seconds=spec.get("threshold", AND_THRESHOLD.total_seconds())),
        max_iterations=spec.get("max_iterations", AND_MAX_ITERATIONS),
    )


def next_fire_times(
    trigger: Mapping[str, Any],
    *,
    timezone: str | tzinfo | None = None,
    after: datetime | None = None,
    count: int = 10,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
) -> list[datetime]:
    """Up to ``count`` fire times of the ``trigger`` spec at or after ``after``, ascending (beat's own maths).

    ``after`` defaults to now; ``timezone`` to the schedule default (``BEAT_STORE_DEFAULT_TIMEZONE``, Celery's
    ``timezone``, Django's ``TIME_ZONE``). A naive ``after``/``start_at``/``end_at`` is a wall time in
    ``timezone``: a bound (``start_at``/``end_at``) skipped by a DST gap is refused (``InvalidTrigger``), while
    ``after`` in a gap means the first instant after it. As for a new schedule, the anchor (an interval's first
    fire time, a calendar interval's start date) is ``start_at``, else ``after``. Raises ``InvalidTrigger`` for
    a bad spec, ``TriggerGaveUp`` when an ``and`` trigger's members never agree.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InvalidTrigger("count", f"must be a whole number >= 0, not {count!r}")
    if timezone is None:
        timezone = settings.DEFAULT_TIMEZONE
    zone = resolve_zone(timezone)
    if after is None:
        after = django_timezone.now()
    after = _aware(after, zone, "after")
    start_at = None if start_at is None else aware_bound(_datetime(start_at, "start_at"), zone, "start_at")
    end_at = None if end_at is None else aware_bound(_datetime(end_at, "end_at"), zone, "end_at")
    built = build_trigger(trigger, timezone=zone, anchor=anchor_of(start_at, after), start_at=start_at, end_at=end_at)
    return fire_times_of(built, after=after, count=count)


def fire_times_of(trigger: Trigger, *, after: datetime, count: int) -> list[datetime]:
    """Up to ``count`` fire times of a built trigger at or after ``after`` (aware), ascending."""
    fire_times: list[datetime] = []
    moment = after
    while len(fire_times) < count:
        fire_time = trigger.next_at_or_after(moment)
        if fire_time is None:
            break
        fire_times.append(fire_time)
        moment = to_utc(fire_time) + ONE_MICROSECOND
    return fire_times


def _aware(moment: datetime, zone: tzinfo, field: str) -> datetime:
    moment = _datetime(moment, field)
    if moment.utcoffset() is None:
        return resolve_wall_time(moment, zone)
    return moment


def _datetime(moment: object, field: str) -> datetime:
    if not isinstance(moment, datetime):
        raise InvalidTrigger(field, f"must be a datetime, not {type(moment).__name__}")
    return moment
