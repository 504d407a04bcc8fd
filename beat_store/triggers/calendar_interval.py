"""``calendarinterval``: every N years/months/weeks/days at a time of day, following the wall clock.

Like APScheduler 4's CalendarIntervalTrigger, the fire dates start at the anchor's date, keep its day of
month, and skip a date that does not exist (Jan 31 + 1 month -> Mar 31).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from beat_store.triggers.base import to_utc
from beat_store.triggers.budget import check_budget
from beat_store.triggers.wallclock import resolve_wall_time, wall_time_of

LAST_YEAR = 9999
# A DST gap moves a fire time forward by at most a day (Samoa skipped 2011-12-30 whole), so dates this far
# before the moment's own date cannot fire at or after it.
LOOK_BACK = timedelta(days=2)


@dataclass(frozen=True)
class CalendarIntervalTrigger:
    months: int  # years * 12 + months
    days: int  # weeks * 7 + days
    time_of_day: time
    start_date: date
    zone: tzinfo

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        moment_utc = to_utc(moment)
        try:
            earliest = wall_time_of(moment_utc, self.zone).date() - LOOK_BACK
        except OverflowError:
            earliest = date.min
        try:
            for fire_date in self.fire_dates_from(earliest):
                check_budget()  # month and day steps together walk from the start date
                fire_time = resolve_wall_time(datetime.combine(fire_date, self.time_of_day), self.zone)
                if to_utc(fire_time) >= moment_utc:
                    return fire_time
        except OverflowError:
            pass  # past year 9999
        return None

    def fire_dates_from(self, earliest: date) -> Iterator[date]:
        """Fire dates in order from about ``earliest`` (a few earlier ones may come first)."""
        if self.months and self.days:
            return self._stepped_dates()
        if self.months:
            return self._month_dates(earliest)
        return self._day_dates(earliest)

    def _day_dates(self, earliest: date) -> Iterator[date]:
        steps = max(0, -(-(earliest - self.start_date).days // self.days))
        try:
            fire_date = self.start_date + timedelta(days=steps * self.days)
            while True:
                yield fire_date
                fire_date += timedelta(days=self.days)
        except OverflowError:
            return

    def _month_dates(self, earliest: date) -> Iterator[date]:
        start_index = self.start_date.year * 12 + self.start_date.month - 1
        earliest_index = earliest.year * 12 + earliest.month - 1
        # Closed form for the step number, then walk: only dates missing from a month (the 31st) are skipped.
        steps = max(0, (earliest_index - start_index) // self.months)
        while True:
            year, month_index = divmod(start_index + steps * self.months, 12)
            if year > LAST_YEAR:
                return
            fire_date = _existing_date(year, month_index + 1, self.start_date.day)
            if fire_date is not None:
                yield fire_date
            steps += 1

    def _stepped_dates(self) -> Iterator[date]:
        # Month and day steps together are cumulative (the day of month drifts), so walk from the start.
        fire_date = self.start_date
        yield fire_date
        while True:
            month_index = fire_date.year * 12 + fire_date.month - 1
            while True:
                month_index += self.months
                year, month = divmod(month_index, 12)
                if year > LAST_YEAR:
                    return
                next_date = _existing_date(year, month + 1, fire_date.day)
                if next_date is not None:
                    break
            try:
                fire_date = next_date + timedelta(days=self.days)
            except OverflowError:
                return
            yield fire_date


def _existing_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
