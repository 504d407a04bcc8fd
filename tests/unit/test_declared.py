from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from celery import Celery
from celery.schedules import crontab, schedule, solar

from beat_store.declared import UnconvertibleEntry, celery_entry_fields, convert_celery_schedule
from beat_store.triggers import next_fire_times


@pytest.mark.parametrize(
    ("celery_schedule", "expected"),
    [
        (crontab(), {"type": "cron", "expression": "* * * * *"}),
        (crontab(minute="*/15"), {"type": "cron", "expression": "*/15 * * * *"}),
        (crontab(minute=0, hour=4), {"type": "cron", "expression": "0 4 * * *"}),
        (
            crontab(minute=30, hour="9", day_of_week="mon-fri"),
            {"type": "cron", "expression": "30 9 * * mon-fri"},
        ),
        (
            crontab(minute=0, hour=0, day_of_month="1", month_of_year="1,7"),
            {"type": "cron", "expression": "0 0 1 1,7 *"},
        ),
        (timedelta(minutes=5), {"type": "interval", "seconds": 300.0}),
        (30, {"type": "interval", "seconds": 30.0}),
        (2.5, {"type": "interval", "seconds": 2.5}),
        (schedule(run_every=timedelta(hours=1)), {"type": "interval", "seconds": 3600.0}),
    ],
    ids=[
        "an empty crontab fires every minute",
        "a step in the minute field is kept",
        "a daily crontab at 04:00",
        "a weekday range is kept by name",
        "day of month and month lists are kept",
        "a timedelta becomes an interval in seconds",
        "a bare number of seconds becomes an interval",
        "fractional seconds are kept",
        "a celery schedule object becomes its run_every interval",
    ],
)
def test_celery_schedules_convert_to_trigger_specs(celery_schedule: Any, expected: dict[str, Any]) -> None:
    assert convert_celery_schedule(celery_schedule) == expected


@pytest.mark.parametrize(
    ("celery_schedule", "reason"),
    [
        (solar.__new__(solar), "solar"),  # built bare: a real one needs the ephem package
        (timedelta(0), "longer than zero"),
        ("every day", "unsupported schedule type str"),
    ],
    ids=["solar schedules are refused", "a zero interval is refused", "a string is refused"],
)
def test_unconvertible_celery_schedules_are_refused_with_a_reason(celery_schedule: Any, reason: str) -> None:
    with pytest.raises(UnconvertibleEntry, match=reason):
        convert_celery_schedule(celery_schedule)


def test_celery_entry_options_become_schedule_fields() -> None:
    app = Celery("unit", set_as_current=False)
    app.conf.timezone = "Europe/Paris"
    entry = {
        "task": "proj.report",
        "schedule": crontab(minute=0, hour=7),
        "args": (1, 2),
        "kwargs": {"full": True},
        "options": {"queue": "reports", "priority": 5, "expires": timedelta(minutes=10), "ignored": "x"},
    }

    fields = celery_entry_fields(entry, app=app)

    assert fields == {
        "task": "proj.report",
        "trigger": {"type": "cron", "expression": "0 7 * * *"},
        "args": [1, 2],
        "kwargs": {"full": True},
        "timezone": "Europe/Paris",
        "queue": "reports",
        "priority": 5,
        "expires": 600.0,
    }


@pytest.mark.parametrize(
    ("entry", "reason"),
    [({"schedule": 5}, "no 'task'"), ({"task": "x"}, "no 'schedule'")],
    ids=["an entry without a task is refused", "an entry without a schedule is refused"],
)
def test_incomplete_celery_entries_are_refused(entry: dict[str, Any], reason: str) -> None:
    with pytest.raises(UnconvertibleEntry, match=reason):
        celery_entry_fields(entry, app=Celery("unit", set_as_current=False))


@pytest.mark.parametrize("day_of_week", ["sat-mon", "6-1", "fri-tue", "0,3", "1-5/2", "*/3"])
def test_a_celery_crontab_fires_on_the_days_celery_reads(day_of_week: str) -> None:
    celery_days = {(number - 1) % 7 for number in crontab(minute=0, hour=9, day_of_week=day_of_week).day_of_week}
    spec = convert_celery_schedule(crontab(minute=0, hour=9, day_of_week=day_of_week))

    week = next_fire_times(spec, timezone="UTC", after=datetime(2026, 1, 5, tzinfo=timezone.utc), count=7)

    assert {fire_time.weekday() for fire_time in week if fire_time < datetime(2026, 1, 12, tzinfo=timezone.utc)} == (
        celery_days
    )
