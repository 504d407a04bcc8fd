"""The preview on the schedule form: the next fire times in the schedule's zone, and what to beware of."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from typing import Any

from beat_store.conf import settings
from beat_store.exceptions import InvalidTrigger, TriggerGaveUp, TriggerTooSlow
from beat_store.timezones import get_zone
from beat_store.triggers import Trigger, classify_wall_time
from beat_store.triggers.budget import time_budget

PREVIEW_COUNT = 10
UTC = timezone.utc
_JUST_BEFORE = timedelta(microseconds=1)


@dataclass(frozen=True)
class FireTimePreview:
    """``fire_times`` are aware, in the schedule's zone; ``error`` is set when the trigger could not go on."""

    zone_name: str
    fire_times: list[datetime] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def shown_fire_times(self) -> list[str]:
        """The fire times as wall times of the schedule's zone (template filters would convert them)."""
        return [f"{moment:%a %Y-%m-%d %H:%M:%S %Z}" for moment in self.fire_times]


def preview_fire_times(
    trigger: Trigger,
    spec: Mapping[str, Any],
    *,
    zone: tzinfo,
    zone_name: str,
    now: datetime,
    count: int = PREVIEW_COUNT,
) -> FireTimePreview:
    """The next ``count`` fire times of ``trigger`` from ``now`` (beat's own maths), with DST and calendar
    warnings. Never raises for a trigger that gives up or a bad spec: the preview says so instead. The whole
    preview has beat's budget for one schedule (``BEAT_STORE_PLAN_TIME_BUDGET``); past it, the fire times found
    so far are shown with a warning."""
    fire_times: list[datetime] = []
    error = None
    slow_warning: list[str] = []
    moment = now
    try:
        with time_budget(settings.PLAN_TIME_BUDGET):
            while len(fire_times) < count:
                fire_time = trigger.next_at_or_after(moment)
                if fire_time is None:
                    break
                fire_times.append(fire_time.astimezone(zone))
                # Step in UTC: wall-clock arithmetic would drop ``fold`` and loop in a repeated hour.
                moment = fire_time.astimezone(UTC) + _JUST_BEFORE
    except TriggerTooSlow as too_slow:
        if not fire_times:
            error = f"{str(too_slow)[:1].upper()}{str(too_slow)[1:]}."
        else:
            slow_warning = [
                f"Only {len(fire_times)} fire time(s) shown: finding more took longer than "
                f"{settings.PLAN_TIME_BUDGET:g} s, beat's time budget for one schedule; beat may pause it."
            ]
    except TriggerGaveUp as gave_up:
        error = f"The trigger gave up: {gave_up}"
    except InvalidTrigger as invalid:
        error = f"The trigger is not valid: {invalid}"
    warnings = [*slow_warning, *dst_warnings(fire_times, zone), *calendar_warnings(fire_times, spec)]
    for member_zone in sorted(set(_member_zone_names(spec)) - {zone_name}):
        warnings += dst_warnings(fire_times, get_zone(member_zone), member_zone=member_zone)
    return FireTimePreview(zone_name=zone_name, fire_times=fire_times, warnings=warnings, error=error)


def dst_warnings(fire_times: list[datetime], zone: tzinfo, *, member_zone: str | None = None) -> list[str]:
    """A warning per fire time that falls in a repeated hour (fold) or right after a skipped one (gap) of
    ``zone``: the schedule's, or ``member_zone``, the zone of one of its members (then named)."""
    warnings = []
    for fire_time in fire_times:
        wall = fire_time.astimezone(zone).replace(tzinfo=None, fold=0)
        shown = f"{fire_time:%Y-%m-%d %H:%M %Z}"
        if member_zone is not None:
            shown += f" ({fire_time.astimezone(zone):%H:%M} in {member_zone}, a member's zone)"
        if classify_wall_time(wall, zone) == "fold":
            warnings.append(
                f"{shown} falls in the hour repeated when the clocks go back (DST fold): a cron or calendar "
                "trigger fires once, at the first occurrence (a cron with hour * fires in both)."
            )
        elif classify_wall_time(wall - _JUST_BEFORE, zone) == "gap":
            warnings.append(
                f"{shown} is the first instant after the clocks went forward (DST gap): the wall times just "
                "before it do not exist that day, so a time named in the gap fires here instead."
            )
    return warnings


def calendar_warnings(fire_times: list[datetime], spec: Mapping[str, Any]) -> list[str]:
    """Calendar intervals in months or years on day 29-31 skip the months that lack that day: say which."""
    monthly = [member for member in _members(spec) if member.get("months") or member.get("years")]
    if not monthly:
        return []
    late_days = sorted({moment.day for moment in fire_times if moment.day > 28})
    if not late_days and fire_times:
        return []
    skipped = _skipped_months(fire_times, monthly[0]) if spec.get("type") == "calendarinterval" else []
    days = ", ".join(str(day) for day in late_days) or "29-31"
    text = (
        f"This calendar interval falls on day {days} of the month: a month without that day is skipped, not "
        "moved to its last day."
    )
    if skipped:
        text += f" Skipped in this preview: {', '.join(skipped)}."
    return [text]


def _member_zone_names(spec: Mapping[str, Any]) -> Iterator[str]:
    for member in spec.get("triggers", ()) if spec.get("type") in ("or", "and") else ():
        if isinstance(member, Mapping):
            if isinstance(member.get("timezone"), str):
                yield member["timezone"]
            yield from _member_zone_names(member)


def _members(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if spec.get("type") == "calendarinterval":
        yield spec
    for member in spec.get("triggers", ()) if spec.get("type") in ("or", "and") else ():
        if isinstance(member, Mapping):
            yield from _members(member)


def _skipped_months(fire_times: list[datetime], spec: Mapping[str, Any]) -> list[str]:
    if spec.get("weeks") or spec.get("days"):
        return []
    step = int(spec.get("years") or 0) * 12 + int(spec.get("months") or 0)
    skipped = []
    for earlier, later in pairwise(fire_times):
        index = earlier.year * 12 + earlier.month - 1 + step
        while index < later.year * 12 + later.month - 1:
            skipped.append(f"{index // 12}-{index % 12 + 1:02d}")
            index += step
    return skipped
