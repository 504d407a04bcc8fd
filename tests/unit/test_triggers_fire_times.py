"""Fire times of every trigger kind, DST gaps and folds included (SPEC "Timing rules" 6-8).

Expected times carry an explicit ``fold``; results are compared as (ISO 8601 with offset, fold) pairs, because
Python compares two datetimes of the same zone by wall time and ignores ``fold``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import override_settings

from beat_store.exceptions import InvalidTrigger, TriggerGaveUp
from beat_store.triggers import (
    build_trigger,
    classify_wall_time,
    describe_trigger,
    next_fire_times,
)

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
ZONES = {"UTC": UTC, "Europe/Paris": PARIS, "America/New_York": NEW_YORK}
STEP = timedelta(microseconds=1)
# Ends an expected list: asking for one more fire time than listed gives none (the trigger ran out).
RUNS_OUT = datetime.max.replace(tzinfo=UTC)


def at(zone: str, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=ZONES[zone], fold=fold)  # type: ignore[misc]


def instants(times: list[datetime]) -> list[tuple[str, int]]:
    return [(moment.isoformat(), moment.fold) for moment in times]


def fire_times(
    spec: dict[str, Any], zone: str, anchor: datetime, moment: datetime, count: int, **bounds: datetime
) -> list[datetime]:
    trigger = build_trigger(spec, timezone=zone, anchor=anchor, **bounds)
    found: list[datetime] = []
    while len(found) < count:
        fire_time = trigger.next_at_or_after(moment)
        if fire_time is None:
            break
        found.append(fire_time)
        moment = fire_time.astimezone(UTC) + STEP
    return found


CRON_WEEKDAYS_AT_TEN = {"type": "cron", "day_of_week": "mon-fri", "hour": "10", "minute": "0"}
CASES = [
    # interval
    (
        "an interval fires on its anchor's grid after the moment",
        {"type": "interval", "seconds": 30},
        "UTC",
        at("UTC", 2024, 1, 1, 10, 0, 0),
        at("UTC", 2024, 1, 1, 10, 0, 45),
        [at("UTC", 2024, 1, 1, 10, 1, 0), at("UTC", 2024, 1, 1, 10, 1, 30), at("UTC", 2024, 1, 1, 10, 2, 0)],
    ),
    (
        "an interval fires first at its anchor when the moment is earlier",
        {"type": "interval", "minutes": 5},
        "UTC",
        at("UTC", 2024, 1, 1, 10, 0),
        at("UTC", 2024, 1, 1, 9, 0),
        [at("UTC", 2024, 1, 1, 10, 0), at("UTC", 2024, 1, 1, 10, 5)],
    ),
    (
        "an interval keeps its anchor's microseconds",
        {"type": "interval", "seconds": 1.5},
        "UTC",
        at("UTC", 2024, 1, 1, 0, 0, 0, 250_000),
        at("UTC", 2024, 1, 1, 0, 0, 0, 250_001),
        [at("UTC", 2024, 1, 1, 0, 0, 1, 750_000), at("UTC", 2024, 1, 1, 0, 0, 3, 250_000)],
    ),
    (
        "an hourly interval keeps UTC spacing across the Paris spring-forward",
        {"type": "interval", "hours": 1},
        "Europe/Paris",
        at("Europe/Paris", 2024, 3, 31, 0, 30),
        at("Europe/Paris", 2024, 3, 31, 1, 0),
        [at("Europe/Paris", 2024, 3, 31, 1, 30), at("Europe/Paris", 2024, 3, 31, 3, 30)],
    ),
    (
        "an hourly interval passes through both halves of the Paris fall-back",
        {"type": "interval", "hours": 1},
        "Europe/Paris",
        at("Europe/Paris", 2024, 10, 27, 1, 30),
        at("Europe/Paris", 2024, 10, 27, 1, 30),
        [
            at("Europe/Paris", 2024, 10, 27, 1, 30),
            at("Europe/Paris", 2024, 10, 27, 2, 30, fold=0),
            at("Europe/Paris", 2024, 10, 27, 2, 30, fold=1),
            at("Europe/Paris", 2024, 10, 27, 3, 30),
        ],
    ),
    (
        "a daily interval drifts by an hour of wall time across the fall-back",
        {"type": "interval", "days": 1},
        "Europe/Paris",
        at("Europe/Paris", 2024, 10, 26, 12, 0),
        at("Europe/Paris", 2024, 10, 26, 12, 0, 1),
        [at("Europe/Paris", 2024, 10, 27, 11, 0), at("Europe/Paris", 2024, 10, 28, 11, 0)],
    ),
    # date
    (
        "a naive date fires once at its wall time in the schedule's zone",
        {"type": "date", "run_at": "2026-12-01T09:00:00"},
        "Europe/Paris",
        at("UTC", 2026, 1, 1),
        at("UTC", 2026, 1, 1),
        [at("Europe/Paris", 2026, 12, 1, 9, 0), RUNS_OUT],
    ),
    (
        "a date already past never fires",
        {"type": "date", "run_at": "2020-01-01T00:00:00"},
        "UTC",
        at("UTC", 2026, 1, 1),
        at("UTC", 2026, 1, 1),
        [RUNS_OUT],
    ),
    (
        "an aware date keeps its instant, shown in the schedule's zone",
        {"type": "date", "run_at": "2026-12-01T09:00:00+00:00"},
        "Europe/Paris",
        at("UTC", 2026, 1, 1),
        at("UTC", 2026, 1, 1),
        [at("Europe/Paris", 2026, 12, 1, 10, 0), RUNS_OUT],
    ),
    (
        "a naive date in the Paris gap fires at the end of the gap",
        {"type": "date", "run_at": "2024-03-31T02:30:00"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("Europe/Paris", 2024, 3, 31, 3, 0, fold=0), RUNS_OUT],
    ),
    (
        "a naive date in the Paris fold fires at its first occurrence",
        {"type": "date", "run_at": "2024-10-27T02:30:00"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("Europe/Paris", 2024, 10, 27, 2, 30, fold=0), RUNS_OUT],
    ),
    # cron
    (
        "a crontab step fires on the quarter hours",
        {"type": "cron", "expression": "*/15 * * * *"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1, 10, 7, 30),
        [at("UTC", 2024, 1, 1, 10, 15), at("UTC", 2024, 1, 1, 10, 30), at("UTC", 2024, 1, 1, 10, 45)],
    ),
    (
        "cron fields for weekdays skip the weekend",
        {"type": "cron", "day_of_week": "mon-fri", "hour": "9", "minute": "0"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 6, 7, 10, 0),
        [at("Europe/Paris", 2024, 6, 10, 9, 0), at("Europe/Paris", 2024, 6, 11, 9, 0)],
    ),
    (
        "crontab weekday 0 is Sunday",
        {"type": "cron", "expression": "0 9 * * 0"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 7, 9, 0), at("UTC", 2024, 1, 14, 9, 0)],
    ),
    (
        "crontab weekday 7 is Sunday too and 1 is Monday",
        {"type": "cron", "expression": "0 9 * * 7,1"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 1, 9, 0), at("UTC", 2024, 1, 7, 9, 0), at("UTC", 2024, 1, 8, 9, 0)],
    ),
    (
        "crontab weekdays 1-5 are Monday to Friday",
        {"type": "cron", "expression": "0 9 * * 1-5"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 5, 10, 0),
        [at("UTC", 2024, 1, 8, 9, 0), at("UTC", 2024, 1, 9, 9, 0)],
    ),
    (
        "crontab weekday steps count from Sunday",
        {"type": "cron", "expression": "0 0 * * */3"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 3), at("UTC", 2024, 1, 6), at("UTC", 2024, 1, 7)],
    ),
    (
        "the cron field day_of_week 0 is Sunday, as in crontab and APScheduler 4",
        {"type": "cron", "day_of_week": "0", "hour": "9"},
        "UTC",
        at("UTC", 2024, 1, 2),
        at("UTC", 2024, 1, 2),
        [at("UTC", 2024, 1, 7, 9, 0), at("UTC", 2024, 1, 14, 9, 0)],
    ),
    (
        "the cron field day_of_week 7 is Sunday too and 1 is Monday",
        {"type": "cron", "day_of_week": "7,1", "hour": "9"},
        "UTC",
        at("UTC", 2024, 1, 2),
        at("UTC", 2024, 1, 2),
        [at("UTC", 2024, 1, 7, 9, 0), at("UTC", 2024, 1, 8, 9, 0), at("UTC", 2024, 1, 14, 9, 0)],
    ),
    (
        "the cron field day_of_week 1-5 is Monday to Friday, like the crontab expression",
        {"type": "cron", "day_of_week": "1-5", "hour": "9", "minute": "0"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 5, 10, 0),
        [at("UTC", 2024, 1, 8, 9, 0), at("UTC", 2024, 1, 9, 9, 0)],
    ),
    (
        "the cron field day_of_week steps count from Sunday, like the crontab expression",
        {"type": "cron", "day_of_week": "*/3", "hour": "0"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 3), at("UTC", 2024, 1, 6), at("UTC", 2024, 1, 7)],
    ),
    (
        "a crontab weekday range 6-1 wraps past Sunday: Saturday through Monday",
        {"type": "cron", "expression": "0 9 * * 6-1"},
        "UTC",
        at("UTC", 2024, 1, 2),
        at("UTC", 2024, 1, 2),
        [
            at("UTC", 2024, 1, 6, 9, 0),
            at("UTC", 2024, 1, 7, 9, 0),
            at("UTC", 2024, 1, 8, 9, 0),
            at("UTC", 2024, 1, 13, 9, 0),
        ],
    ),
    (
        "a crontab weekday range sat-mon wraps past Sunday",
        {"type": "cron", "expression": "0 9 * * sat-mon"},
        "UTC",
        at("UTC", 2024, 1, 2),
        at("UTC", 2024, 1, 2),
        [
            at("UTC", 2024, 1, 6, 9, 0),
            at("UTC", 2024, 1, 7, 9, 0),
            at("UTC", 2024, 1, 8, 9, 0),
            at("UTC", 2024, 1, 13, 9, 0),
        ],
    ),
    (
        "a day_of_week field range fri-mon wraps past Sunday",
        {"type": "cron", "day_of_week": "fri-mon", "hour": "9"},
        "UTC",
        at("UTC", 2024, 1, 2),
        at("UTC", 2024, 1, 2),
        [
            at("UTC", 2024, 1, 5, 9, 0),
            at("UTC", 2024, 1, 6, 9, 0),
            at("UTC", 2024, 1, 7, 9, 0),
            at("UTC", 2024, 1, 8, 9, 0),
            at("UTC", 2024, 1, 12, 9, 0),
        ],
    ),
    (
        "a wrapping weekday range with a step steps through the wrap: fri-mon/2 is Friday and Sunday",
        {"type": "cron", "day_of_week": "fri-mon/2", "hour": "9"},
        "UTC",
        at("UTC", 2024, 1, 2),
        at("UTC", 2024, 1, 2),
        [at("UTC", 2024, 1, 5, 9, 0), at("UTC", 2024, 1, 7, 9, 0), at("UTC", 2024, 1, 12, 9, 0)],
    ),
    (
        "sun-sun is Sunday alone",
        {"type": "cron", "expression": "0 9 * * sun-sun"},
        "UTC",
        at("UTC", 2024, 1, 2),
        at("UTC", 2024, 1, 2),
        [at("UTC", 2024, 1, 7, 9, 0), at("UTC", 2024, 1, 14, 9, 0)],
    ),
    (
        "cron fields below the most significant one given default to their minimum",
        {"type": "cron", "hour": "9"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1, 9, 0, 1),
        [at("UTC", 2024, 1, 2, 9, 0, 0), at("UTC", 2024, 1, 3, 9, 0, 0)],
    ),
    (
        "cron fields above the most significant one given default to every value",
        {"type": "cron", "minute": "0"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1, 22, 30),
        [at("UTC", 2024, 1, 1, 23, 0), at("UTC", 2024, 1, 2, 0, 0)],
    ),
    (
        "a cron every second rounds a mid-second moment up",
        {"type": "cron", "second": "*"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1, 10, 0, 0, 500_000),
        [at("UTC", 2024, 1, 1, 10, 0, 1), at("UTC", 2024, 1, 1, 10, 0, 2)],
    ),
    (
        "a cron for February 29th waits for leap years",
        {"type": "cron", "month": "2", "day": "29"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 3, 1),
        [at("UTC", 2028, 2, 29), at("UTC", 2032, 2, 29)],
    ),
    (
        "a cron for the last day of the month follows month lengths",
        {"type": "cron", "day": "last"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 31), at("UTC", 2024, 2, 29), at("UTC", 2024, 3, 31)],
    ),
    (
        "a cron limited to one year runs out after it",
        {"type": "cron", "year": "2025", "month": "12", "day": "31"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2025, 12, 31), RUNS_OUT],
    ),
    (
        "a cron for February 30th never fires",
        {"type": "cron", "month": "2", "day": "30"},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [RUNS_OUT],
    ),
    (
        "a cron near year 9999 runs out instead of overflowing",
        {"type": "cron", "month": "12", "day": "31", "hour": "23"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("UTC", 9999, 12, 30),
        [at("Europe/Paris", 9999, 12, 31, 23), RUNS_OUT],
    ),
    # cron across DST
    (
        "a daily 02:30 cron fires at 03:00 on the Paris spring-forward day",
        {"type": "cron", "hour": "2", "minute": "30"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 3, 30),
        [
            at("Europe/Paris", 2024, 3, 30, 2, 30),
            at("Europe/Paris", 2024, 3, 31, 3, 0, fold=0),
            at("Europe/Paris", 2024, 4, 1, 2, 30),
        ],
    ),
    (
        "a daily 02:30 cron fires once, at the first pass, on the Paris fall-back day",
        {"type": "cron", "hour": "2", "minute": "30"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 10, 26),
        [
            at("Europe/Paris", 2024, 10, 26, 2, 30),
            at("Europe/Paris", 2024, 10, 27, 2, 30, fold=0),
            at("Europe/Paris", 2024, 10, 28, 2, 30),
        ],
    ),
    (
        "a daily 02:30 cron fires at 03:00 on the New York spring-forward day",
        {"type": "cron", "expression": "30 2 * * *"},
        "America/New_York",
        at("UTC", 2024, 1, 1),
        at("America/New_York", 2024, 3, 9),
        [
            at("America/New_York", 2024, 3, 9, 2, 30),
            at("America/New_York", 2024, 3, 10, 3, 0, fold=0),
            at("America/New_York", 2024, 3, 11, 2, 30),
        ],
    ),
    (
        "a daily 02:30 cron is untouched by the New York fall-back at 02:00",
        {"type": "cron", "expression": "30 2 * * *"},
        "America/New_York",
        at("UTC", 2024, 1, 1),
        at("America/New_York", 2024, 11, 2, 3, 0),
        [at("America/New_York", 2024, 11, 3, 2, 30, fold=0), at("America/New_York", 2024, 11, 4, 2, 30)],
    ),
    (
        "a daily 01:30 cron fires once, at the first pass, on the New York fall-back day",
        {"type": "cron", "expression": "30 1 * * *"},
        "America/New_York",
        at("UTC", 2024, 1, 1),
        at("America/New_York", 2024, 11, 2, 3, 0),
        [at("America/New_York", 2024, 11, 3, 1, 30, fold=0), at("America/New_York", 2024, 11, 4, 1, 30)],
    ),
    (
        "several wall times in the Paris gap fire once, at its end",
        {"type": "cron", "hour": "2", "minute": "*/20"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 3, 31, 0, 0),
        [at("Europe/Paris", 2024, 3, 31, 3, 0, fold=0), at("Europe/Paris", 2024, 4, 1, 2, 0)],
    ),
    (
        "a cron for the repeated hour skips its second pass",
        {"type": "cron", "hour": "2", "minute": "*/20"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 10, 27, 2, 10, fold=1),
        [at("Europe/Paris", 2024, 10, 28, 2, 0)],
    ),
    (
        "an hourly crontab fires in both passes of the Paris fold",
        {"type": "cron", "expression": "30 * * * *"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 10, 27, 1, 0),
        [
            at("Europe/Paris", 2024, 10, 27, 1, 30),
            at("Europe/Paris", 2024, 10, 27, 2, 30, fold=0),
            at("Europe/Paris", 2024, 10, 27, 2, 30, fold=1),
            at("Europe/Paris", 2024, 10, 27, 3, 30),
        ],
    ),
    (
        "an hourly crontab fires in the second pass after the first pass's last match",
        {"type": "cron", "expression": "*/20 * * * *"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 10, 27, 2, 50, fold=0),
        [
            at("Europe/Paris", 2024, 10, 27, 2, 0, fold=1),
            at("Europe/Paris", 2024, 10, 27, 2, 20, fold=1),
            at("Europe/Paris", 2024, 10, 27, 2, 40, fold=1),
            at("Europe/Paris", 2024, 10, 27, 3, 0),
        ],
    ),
    (
        "an hourly crontab skips the wall times missing from the Paris gap",
        {"type": "cron", "expression": "30 * * * *"},
        "Europe/Paris",
        at("UTC", 2024, 1, 1),
        at("Europe/Paris", 2024, 3, 31, 1, 0),
        [at("Europe/Paris", 2024, 3, 31, 1, 30), at("Europe/Paris", 2024, 3, 31, 3, 30)],
    ),
    (
        "an hourly crontab fires at 03:00 after the New York gap, not twice",
        {"type": "cron", "expression": "0 * * * *"},
        "America/New_York",
        at("UTC", 2024, 1, 1),
        at("America/New_York", 2024, 3, 10, 0, 30),
        [
            at("America/New_York", 2024, 3, 10, 1, 0),
            at("America/New_York", 2024, 3, 10, 3, 0),
            at("America/New_York", 2024, 3, 10, 4, 0),
        ],
    ),
    # calendarinterval
    (
        "a monthly calendar interval from January 31st skips months without a 31st",
        {"type": "calendarinterval", "months": 1, "hour": 10},
        "UTC",
        at("UTC", 2024, 1, 31, 9, 0),
        at("UTC", 2024, 1, 31, 9, 0),
        [
            at("UTC", 2024, 1, 31, 10),
            at("UTC", 2024, 3, 31, 10),
            at("UTC", 2024, 5, 31, 10),
            at("UTC", 2024, 7, 31, 10),
        ],
    ),
    (
        "a calendar interval created after today's time of day first fires one step later",
        {"type": "calendarinterval", "days": 1, "hour": 10},
        "UTC",
        at("UTC", 2024, 1, 1, 12, 0),
        at("UTC", 2024, 1, 1, 12, 0),
        [at("UTC", 2024, 1, 2, 10), at("UTC", 2024, 1, 3, 10)],
    ),
    (
        "a calendar interval reads its start date in the schedule's zone",
        {"type": "calendarinterval", "days": 2, "hour": 8},
        "Europe/Paris",
        at("UTC", 2024, 1, 1, 23, 30),
        at("UTC", 2024, 1, 1, 23, 30),
        [at("Europe/Paris", 2024, 1, 2, 8), at("Europe/Paris", 2024, 1, 4, 8)],
    ),
    (
        "a fortnightly calendar interval years after its start lands on its grid",
        {"type": "calendarinterval", "weeks": 2},
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2030, 6, 1),
        [at("UTC", 2030, 6, 10), at("UTC", 2030, 6, 24)],
    ),
    (
        "a yearly calendar interval from February 29th skips common years",
        {"type": "calendarinterval", "years": 1, "hour": 6},
        "UTC",
        at("UTC", 2024, 2, 29),
        at("UTC", 2024, 3, 1),
        [at("UTC", 2028, 2, 29, 6), at("UTC", 2032, 2, 29, 6)],
    ),
    (
        "month and day steps together are cumulative",
        {"type": "calendarinterval", "months": 1, "days": 1},
        "UTC",
        at("UTC", 2024, 1, 31),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 31), at("UTC", 2024, 4, 1), at("UTC", 2024, 5, 2), at("UTC", 2024, 6, 3)],
    ),
    (
        "a daily calendar interval at 02:30 fires at 03:00 on the Paris spring-forward day",
        {"type": "calendarinterval", "days": 1, "hour": 2, "minute": 30},
        "Europe/Paris",
        at("Europe/Paris", 2024, 3, 30),
        at("Europe/Paris", 2024, 3, 30),
        [
            at("Europe/Paris", 2024, 3, 30, 2, 30),
            at("Europe/Paris", 2024, 3, 31, 3, 0, fold=0),
            at("Europe/Paris", 2024, 4, 1, 2, 30),
        ],
    ),
    (
        "a daily calendar interval at 02:30 fires once on the Paris fall-back day",
        {"type": "calendarinterval", "days": 1, "hour": 2, "minute": 30},
        "Europe/Paris",
        at("Europe/Paris", 2024, 10, 27),
        at("Europe/Paris", 2024, 10, 27),
        [at("Europe/Paris", 2024, 10, 27, 2, 30, fold=0), at("Europe/Paris", 2024, 10, 28, 2, 30)],
    ),
    # combinations
    (
        "the spec's and example agrees on 7 June, 7 October and 7 December",
        {
            "type": "and",
            "triggers": [{"type": "calendarinterval", "months": 2, "hour": 10}, CRON_WEEKDAYS_AT_TEN],
        },
        "UTC",
        at("UTC", 2022, 6, 7),
        at("UTC", 2022, 6, 7),
        [at("UTC", 2022, 6, 7, 10), at("UTC", 2022, 10, 7, 10), at("UTC", 2022, 12, 7, 10)],
    ),
    (
        "an and combination accepts members within one second of each other",
        {
            "type": "and",
            "triggers": [{"type": "cron", "minute": "0", "second": "1"}, {"type": "cron", "minute": "0"}],
        },
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1, 0, 30),
        [at("UTC", 2024, 1, 1, 1, 0, 0), at("UTC", 2024, 1, 1, 2, 0, 0)],
    ),
    (
        "an and combination runs out when a member does",
        {
            "type": "and",
            "triggers": [{"type": "date", "run_at": "2024-01-03T10:00:00"}, CRON_WEEKDAYS_AT_TEN],
        },
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 3, 10), RUNS_OUT],
    ),
    (
        "an or combination gives a time two members share once",
        {
            "type": "or",
            "triggers": [{"type": "cron", "hour": "9"}, {"type": "cron", "hour": "9", "minute": "*/30"}],
        },
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1),
        [at("UTC", 2024, 1, 1, 9, 0), at("UTC", 2024, 1, 1, 9, 30), at("UTC", 2024, 1, 2, 9, 0)],
    ),
    (
        "an or combination goes on after one member runs out",
        {
            "type": "or",
            "triggers": [{"type": "date", "run_at": "2024-01-01T00:30:00"}, {"type": "interval", "hours": 1}],
        },
        "UTC",
        at("UTC", 2024, 1, 1),
        at("UTC", 2024, 1, 1, 0, 0, 1),
        [at("UTC", 2024, 1, 1, 0, 30), at("UTC", 2024, 1, 1, 1, 0), at("UTC", 2024, 1, 1, 2, 0)],
    ),
]


@pytest.mark.parametrize(
    ("spec", "zone", "anchor", "moment", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_fire_times(
    spec: dict[str, Any], zone: str, anchor: datetime, moment: datetime, expected: list[datetime]
) -> None:
    runs_out = bool(expected) and expected[-1] is RUNS_OUT
    fire_times_expected = expected[:-1] if runs_out else expected

    found = fire_times(spec, zone, anchor, moment, count=len(expected))

    assert instants(found) == instants(fire_times_expected)


def test_fire_times_are_in_the_trigger_zone_whatever_the_moment_zone() -> None:
    trigger = build_trigger({"type": "cron", "hour": "9"}, timezone="Europe/Paris", anchor=at("UTC", 2024, 1, 1))

    fire_time = trigger.next_at_or_after(at("America/New_York", 2024, 1, 1))

    assert fire_time is not None
    assert fire_time.tzinfo is PARIS
    assert instants([fire_time]) == instants([at("Europe/Paris", 2024, 1, 1, 9)])


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        (
            {"start_at": at("UTC", 2024, 1, 1, 11, 30)},
            [at("UTC", 2024, 1, 1, 12), at("UTC", 2024, 1, 1, 13)],
        ),
        (
            {"end_at": at("UTC", 2024, 1, 1, 12)},
            [at("UTC", 2024, 1, 1, 10), at("UTC", 2024, 1, 1, 11), at("UTC", 2024, 1, 1, 12), RUNS_OUT],
        ),
        (
            {"start_at": at("UTC", 2024, 1, 1, 10, 30), "end_at": at("UTC", 2024, 1, 1, 11, 59)},
            [at("UTC", 2024, 1, 1, 11), RUNS_OUT],
        ),
        ({"end_at": at("UTC", 2024, 1, 1, 9)}, [RUNS_OUT]),
    ],
    ids=[
        "no fire time before start_at",
        "a fire time equal to end_at still fires",
        "start_at and end_at together keep the times between them",
        "an end_at before the moment leaves nothing",
    ],
)
def test_bounds_apply_to_fire_times(bounds: dict[str, datetime], expected: list[datetime]) -> None:
    spec = {"type": "cron", "minute": "0"}

    moment = at("UTC", 2024, 1, 1, 9, 30)

    found = fire_times(spec, "UTC", at("UTC", 2024, 1, 1), moment, count=len(expected), **bounds)

    assert instants(found) == instants([fire_time for fire_time in expected if fire_time is not RUNS_OUT])


def test_and_gives_up_when_members_never_coincide(settings: Any) -> None:
    settings.BEAT_STORE_TRIGGER_TIME_BUDGET = 60  # the iteration limit, not the time budget, is under test
    spec = {
        "type": "and",
        "triggers": [
            {"type": "cron", "day_of_week": "mon", "hour": "9"},
            {"type": "cron", "day_of_week": "tue"},
        ],
    }
    trigger = build_trigger(spec, timezone="UTC", anchor=at("UTC", 2024, 1, 1))

    with pytest.raises(TriggerGaveUp, match="no fire time its 2 members agree on"):
        trigger.next_at_or_after(at("UTC", 2024, 1, 1))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("anchor", datetime(2024, 1, 1), "must be timezone-aware"),
        ("start_at", datetime(2024, 1, 1), "must be timezone-aware"),
        ("end_at", at("UTC", 2023, 1, 1), "must not be earlier than start_at"),
    ],
    ids=["a naive anchor is refused", "a naive start_at is refused", "an end_at before start_at is refused"],
)
def test_build_trigger_refuses_bad_moments(field: str, value: datetime, reason: str) -> None:
    arguments: dict[str, Any] = {"anchor": at("UTC", 2024, 1, 1), "start_at": at("UTC", 2024, 1, 1)}
    arguments[field] = value

    with pytest.raises(InvalidTrigger) as caught:
        build_trigger({"type": "interval", "seconds": 1}, timezone="UTC", **arguments)

    assert caught.value.field == field
    assert reason in caught.value.reason


def test_build_trigger_refuses_an_unknown_zone() -> None:
    with pytest.raises(InvalidTrigger) as caught:
        build_trigger({"type": "interval", "seconds": 1}, timezone="Mars/Olympus", anchor=at("UTC", 2024, 1, 1))

    assert caught.value.field == "timezone"


def test_next_fire_times_returns_count_times_from_after() -> None:
    found = next_fire_times(
        {"type": "cron", "expression": "0 9 * * 1-5"},
        timezone="Europe/Paris",
        after=at("UTC", 2024, 1, 5),
        count=3,
    )

    assert instants(found) == instants(
        [
            at("Europe/Paris", 2024, 1, 5, 9),
            at("Europe/Paris", 2024, 1, 8, 9),
            at("Europe/Paris", 2024, 1, 9, 9),
        ]
    )


def test_next_fire_times_anchors_an_interval_at_start_at() -> None:
    found = next_fire_times(
        {"type": "interval", "minutes": 40},
        timezone="UTC",
        after=at("UTC", 2024, 1, 1, 9),
        start_at=at("UTC", 2024, 1, 1, 10, 7),
        count=2,
    )

    assert instants(found) == instants([at("UTC", 2024, 1, 1, 10, 7), at("UTC", 2024, 1, 1, 10, 47)])


def test_next_fire_times_anchors_an_interval_at_after_without_start_at() -> None:
    found = next_fire_times(
        {"type": "interval", "minutes": 40}, timezone="UTC", after=at("UTC", 2024, 1, 1, 9), count=2
    )

    assert instants(found) == instants([at("UTC", 2024, 1, 1, 9), at("UTC", 2024, 1, 1, 9, 40)])


def test_next_fire_times_stops_when_the_trigger_runs_out() -> None:
    found = next_fire_times(
        {"type": "date", "run_at": "2024-01-02T00:00:00"},
        timezone="UTC",
        after=at("UTC", 2024, 1, 1),
        count=10,
    )

    assert instants(found) == instants([at("UTC", 2024, 1, 2)])


def test_next_fire_times_of_count_zero_is_empty() -> None:
    found = next_fire_times({"type": "interval", "seconds": 1}, timezone="UTC", after=at("UTC", 2024, 1, 1), count=0)

    assert found == []


def test_next_fire_times_refuses_a_negative_count() -> None:
    with pytest.raises(InvalidTrigger) as caught:
        next_fire_times({"type": "interval", "seconds": 1}, timezone="UTC", after=at("UTC", 2024, 1, 1), count=-1)

    assert caught.value.field == "count"


def test_next_fire_times_reads_a_naive_after_in_the_zone() -> None:
    found = next_fire_times(
        {"type": "cron", "minute": "0"}, timezone="Europe/Paris", after=datetime(2024, 1, 1, 9, 30), count=1
    )

    assert instants(found) == instants([at("Europe/Paris", 2024, 1, 1, 10)])


@time_machine.travel(datetime(2024, 1, 1, 8, 20, tzinfo=UTC), tick=False)
@override_settings(BEAT_STORE_DEFAULT_TIMEZONE="America/New_York")
def test_next_fire_times_defaults_to_now_and_the_default_zone() -> None:
    found = next_fire_times({"type": "cron", "minute": "30"}, count=2)

    assert instants(found) == instants(
        [at("America/New_York", 2024, 1, 1, 3, 30), at("America/New_York", 2024, 1, 1, 4, 30)]
    )


@pytest.mark.parametrize(
    ("naive", "zone", "expected"),
    [
        (datetime(2024, 3, 31, 2, 30), PARIS, "gap"),
        (datetime(2024, 10, 27, 2, 30), PARIS, "fold"),
        (datetime(2024, 10, 27, 3, 0), PARIS, "normal"),
        (datetime(2024, 3, 31, 3, 0), PARIS, "normal"),
        (datetime(2024, 3, 10, 2, 0), NEW_YORK, "gap"),
        (datetime(2024, 11, 3, 1, 59, 59), NEW_YORK, "fold"),
        (datetime(2024, 10, 27, 2, 30), UTC, "normal"),
    ],
    ids=[
        "02:30 is skipped by the Paris spring-forward",
        "02:30 is repeated by the Paris fall-back",
        "03:00 after the Paris fall-back happens once",
        "03:00 after the Paris spring-forward happens once",
        "02:00 is skipped by the New York spring-forward",
        "01:59:59 is repeated by the New York fall-back",
        "UTC has no gaps or folds",
    ],
)
def test_classify_wall_time(naive: datetime, zone: ZoneInfo, expected: str) -> None:
    assert classify_wall_time(naive, zone) == expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"type": "cron", "day_of_week": "mon-fri", "hour": 9, "minute": 0},
            "At 09:00, Monday through Friday (Europe/Paris)",
        ),
        ({"type": "cron", "expression": "0 9 * * 1-5"}, "At 09:00, Monday through Friday (Europe/Paris)"),
        ({"type": "cron", "day_of_week": "0", "hour": "9"}, "At 09:00, on Sunday (Europe/Paris)"),
        ({"type": "cron", "expression": "0 9 * * sat-mon"}, "At 09:00, on Monday, Saturday and Sunday (Europe/Paris)"),
        (
            {"type": "cron", "expression": "30 7 1 * 0,6"},
            "At 07:30, on Saturday and Sunday, on day 1 of the month (Europe/Paris)",
        ),
        ({"type": "cron", "expression": "*/5 * * * *"}, "Every 5 minutes (Europe/Paris)"),
        ({"type": "cron", "expression": "* * * * *"}, "Every minute (Europe/Paris)"),
        ({"type": "cron", "second": "*/10"}, "Every 10 seconds (Europe/Paris)"),
        ({"type": "cron", "minute": "0"}, "Every hour (Europe/Paris)"),
        (
            {"type": "cron", "month": "2", "day": "last", "hour": "23", "minute": "59", "second": "30"},
            "At 23:59:30, on the last day of the month, in February (Europe/Paris)",
        ),
        ({"type": "cron", "minute": "0,30", "hour": "9-17"}, "At minute 0,30, hour 9-17 (Europe/Paris)"),
        ({"type": "interval", "seconds": 30}, "Every 30 seconds"),
        ({"type": "interval", "days": 1, "hours": 1, "minutes": 30}, "Every 1 day, 1 hour and 30 minutes"),
        ({"type": "date", "run_at": "2026-12-01T09:00:00"}, "Once, at 2026-12-01 09:00 (Europe/Paris)"),
        ({"type": "date", "run_at": "2026-12-01T09:00:00+00:00"}, "Once, at 2026-12-01 10:00 (Europe/Paris)"),
        (
            {"type": "calendarinterval", "months": 1, "hour": 10},
            "Every 1 month on the same day at 10:00 (Europe/Paris)",
        ),
        (
            {"type": "calendarinterval", "weeks": 2, "hour": 8, "minute": 15},
            "Every 2 weeks at 08:15 (Europe/Paris)",
        ),
        (
            {"type": "or", "triggers": [{"type": "interval", "hours": 2}, {"type": "cron", "hour": "9"}]},
            "Any of: Every 2 hours; At 09:00 (Europe/Paris)",
        ),
        (
            {
                "type": "and",
                "triggers": [
                    {"type": "or", "triggers": [{"type": "interval", "hours": 2}]},
                    {"type": "cron", "hour": "9"},
                ],
            },
            "All of: (Any of: Every 2 hours); At 09:00 (Europe/Paris)",
        ),
        (
            {"type": "interval"},
            "Invalid trigger: the interval must be longer than zero (at least one microsecond): "
            "set one of weeks, days, hours, minutes, seconds",
        ),
    ],
    ids=[
        "weekday cron fields read as a range of days",
        "a crontab reads the same as its fields",
        "the day_of_week field 0 reads as Sunday",
        "a range wrapping past Sunday reads as its days",
        "a crontab weekend list and day of month read as words",
        "a crontab minute step reads as every 5 minutes",
        "a bare crontab reads as every minute",
        "a seconds step reads as every 10 seconds",
        "minute zero reads as every hour",
        "seconds, last day and month read in full",
        "other field mixes read field by field",
        "an interval of seconds",
        "an interval of several units",
        "a naive date names the schedule's zone",
        "an aware date is shown in the schedule's zone",
        "a monthly calendar interval keeps the same day",
        "a fortnightly calendar interval",
        "an or combination lists its members",
        "a nested combination is put in brackets",
        "an invalid spec is described, not raised",
    ],
)
def test_describe_trigger(spec: dict[str, Any], expected: str) -> None:
    assert describe_trigger(spec, "Europe/Paris") == expected
