"""``cron``: APScheduler 3's field syntax, with our own search over wall-clock times and spec rule 6 for DST.

APScheduler's field objects parse and match; the search below walks naive wall-clock datetimes of the
schedule's zone, then resolves the matching wall time to real instants (see ``wallclock``), because
APScheduler 3's own loop localises as it goes and treats gaps and folds differently from our rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
from apscheduler.triggers.cron.expressions import AllExpression
from apscheduler.triggers.cron.fields import BaseField

from beat_store.exceptions import TriggerGaveUp
from beat_store.triggers.base import UTC, ceil_to_second, to_utc
from beat_store.triggers.budget import check_budget
from beat_store.triggers.cron_syntax import CRON_FIELD_NAMES, apscheduler_day_of_week, crontab_to_fields
from beat_store.triggers.wallclock import ambiguous_span, classify_wall_time, transition_instant

ONE_DAY = timedelta(days=1)
ONE_SECOND = timedelta(seconds=1)
LAST_YEAR = 9999
# Month lengths, weekdays and ISO weeks repeat every 400 Gregorian years: a pattern with no match in 400 years
# (e.g. February 30th) has none at all.
CALENDAR_CYCLE_YEARS = 400
# Each step either returns or leaves a DST gap or fold behind; a handful is plenty.
MAX_WALL_STEPS = 100
# Answers a trigger remembers (see CronTrigger._recent).
_RECENT_ANSWERS = 256


def fields_of(spec: Mapping[str, Any]) -> dict[str, str]:
    """APScheduler 3 field values of a normalised cron spec (crontab line converted, weekdays by name)."""
    if "expression" in spec:
        return crontab_to_fields(spec["expression"])
    values = {name: value for name, value in spec.items() if name in CRON_FIELD_NAMES}
    if "day_of_week" in values:
        values["day_of_week"] = apscheduler_day_of_week(values["day_of_week"])
    return values


def _is_every_value(cron_field: BaseField) -> bool:
    expressions = cron_field.expressions
    return len(expressions) == 1 and type(expressions[0]) is AllExpression and expressions[0].step in (None, 1)


def _matches(cron_field: BaseField, value: date | time) -> bool:
    return bool(cron_field.get_next_value(value) == cron_field.get_value(value))


@dataclass(frozen=True)
class CronTrigger:
    values: Mapping[str, str]
    zone: tzinfo
    fields: dict[str, BaseField] = field(init=False, repr=False, compare=False)
    # No match from wall time W means none from any later wall time: remember the earliest such W, so that an
    # impossible pattern (February 30th) walks its 400-year cycle once, not on every call.
    _exhausted_from: list[datetime] = field(default_factory=list, init=False, repr=False, compare=False)
    # In a herd thousands of schedules share this (cached) trigger and ask for the fire time after the same
    # instant; the answer never changes, so recent ones are kept. Bounded: cleared when full.
    _recent: dict[datetime, datetime | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parsed = APSCronTrigger(**self.values, timezone=UTC).fields
        object.__setattr__(self, "fields", {cron_field.name: cron_field for cron_field in parsed})

    @property
    def hour_is_every_value(self) -> bool:
        """spec rule 6's exception: with hour ``*``, every matching real instant fires (fold: both passes)."""
        return _is_every_value(self.fields["hour"])

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        moment = to_utc(moment)
        if moment in self._recent:
            return self._recent[moment]
        try:
            found = self._next_at_or_after(moment)
        except OverflowError:
            found = None  # past year 9999
        if len(self._recent) >= _RECENT_ANSWERS:
            self._recent.clear()
        self._recent[moment] = found
        return found

    def _next_at_or_after(self, moment: datetime) -> datetime | None:
        local = ceil_to_second(moment).astimezone(self.zone)
        wall = local.replace(tzinfo=None, fold=0)
        if self.hour_is_every_value and local.fold == 0 and classify_wall_time(wall, self.zone) == "fold":
            # Inside a fold's first pass, the second pass's earlier wall times are still ahead in real time.
            found = self._next_in_fold(wall)
            if found is not None:
                return found
            wall = ambiguous_span(wall, self.zone)[1]
        for _ in range(MAX_WALL_STEPS):
            match = self.next_matching_wall_time(wall)
            if match is None:
                return None
            ahead = [instant for instant in self._instants_of(match) if to_utc(instant) >= moment]
            if ahead:
                return min(ahead, key=to_utc)
            # Only a gap or fold wall time can leave nothing ahead: move past it.
            if classify_wall_time(match, self.zone) == "normal":
                wall = match + ONE_SECOND
            else:
                wall = ambiguous_span(match, self.zone)[1]
        raise TriggerGaveUp(f"the cron trigger found no fire time after {MAX_WALL_STEPS} DST steps from {moment}")

    def _next_in_fold(self, wall: datetime) -> datetime | None:
        span_start, span_end = ambiguous_span(wall, self.zone)
        first_pass = self.next_matching_wall_time(wall)
        if first_pass is not None and first_pass < span_end:
            return first_pass.replace(tzinfo=self.zone, fold=0)
        second_pass = self.next_matching_wall_time(span_start)
        if second_pass is not None and second_pass < span_end:
            return second_pass.replace(tzinfo=self.zone, fold=1)
        return None

    def _instants_of(self, wall: datetime) -> list[datetime]:
        kind = classify_wall_time(wall, self.zone)
        if kind == "normal":
            return [wall.replace(tzinfo=self.zone)]
        if kind == "gap":
            if self.hour_is_every_value:
                return []
            return [transition_instant(wall, self.zone).astimezone(self.zone)]
        first = wall.replace(tzinfo=self.zone, fold=0)
        return [first, wall.replace(tzinfo=self.zone, fold=1)] if self.hour_is_every_value else [first]

    def next_matching_wall_time(self, wall: datetime) -> datetime | None:
        """The first naive wall time >= ``wall`` (whole seconds) matching every field; None past 9999."""
        if self._exhausted_from and wall >= self._exhausted_from[0]:
            return None
        match = self._search_wall_time(wall)
        if match is None:
            self._exhausted_from[:] = [min([wall, *self._exhausted_from])]
        return match

    def _search_wall_time(self, wall: datetime) -> datetime | None:
        day, start_time = wall.date(), wall.time().replace(microsecond=0)
        last_year = LAST_YEAR
        if _is_every_value(self.fields["year"]):
            last_year = min(LAST_YEAR, day.year + CALENDAR_CYCLE_YEARS)
        while True:
            match_day = self._next_matching_date(day, last_year)
            if match_day is None:
                return None
            if match_day > day:
                start_time = time()
            match_time = self._next_matching_time(start_time)
            if match_time is not None:
                return datetime.combine(match_day, match_time)
            day, start_time = match_day + ONE_DAY, time()

    def _next_matching_date(self, day: date, last_year: int) -> date | None:
        year_field, month_field, day_field = self.fields["year"], self.fields["month"], self.fields["day"]
        while day.year <= last_year:
            check_budget()  # a rare pattern (week 53 on a Monday the 1st) walks many years of days
            year = year_field.get_next_value(day)
            if year is None or year > last_year:
                return None
            if year > day.year:
                day = date(year, 1, 1)
                continue
            month = month_field.get_next_value(day)
            if month is None:
                day = _first_of_year(day.year + 1)
                continue
            if month > day.month:
                day = date(day.year, month, 1)
                continue
            day_of_month = day_field.get_next_value(day)
            if day_of_month is None:
                day = _first_of_next_month(day)
                continue
            if day_of_month > day.day:
                day = day.replace(day=day_of_month)
                continue
            if _matches(self.fields["week"], day) and _matches(self.fields["day_of_week"], day):
                return day
            day += ONE_DAY
        return None

    def _next_matching_time(self, start: time) -> time | None:
        hour_field, minute_field, second_field = (
            self.fields["hour"],
            self.fields["minute"],
            self.fields["second"],
        )
        hour, minute, second = start.hour, start.minute, start.second
        while hour <= 23:
            current = time(hour, minute, second)
            next_hour = hour_field.get_next_value(current)
            if next_hour is None:
                return None
            if next_hour > hour:
                hour, minute, second = next_hour, 0, 0
                continue
            next_minute = minute_field.get_next_value(current)
            if next_minute is None:
                hour, minute, second = hour + 1, 0, 0
                continue
            if next_minute > minute:
                minute, second = next_minute, 0
                continue
            next_second = second_field.get_next_value(current)
            if next_second is None:
                hour, minute, second = (hour, minute + 1, 0) if minute < 59 else (hour + 1, 0, 0)
                continue
            return time(hour, minute, next_second)
        return None


def _first_of_year(year: int) -> date:
    if year > LAST_YEAR:
        raise OverflowError("past year 9999")
    return date(year, 1, 1)


def _first_of_next_month(day: date) -> date:
    return _first_of_year(day.year + 1) if day.month == 12 else date(day.year, day.month + 1, 1)
