"""Migration 0004 renumbers stored cron ``day_of_week`` fields, forwards and backwards, keeping every schedule's
days (issue #13): run with Django's migration executor against the test database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from apscheduler.triggers.cron.fields import DayOfWeekField
from django.db.migrations.executor import MigrationExecutor

from beat_store.triggers.weekdays import read_weekdays
from tests.integration.migrating import APP, migrate

BEFORE = (APP, "0003_execution_fewer_indexes")
RENUMBERED = (APP, "0004_day_of_week_crontab_numbering")
A_MONDAY = datetime(2024, 1, 1).date()
NEXT_FIRE_AT = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)

pytestmark = pytest.mark.django_db(transaction=True)


def apscheduler3_days(text: str) -> set[int]:
    """The weekdays APScheduler 3, which read the field before 0004, matches for ``text``."""
    field = DayOfWeekField("day_of_week", text)
    days = [A_MONDAY + timedelta(days=offset) for offset in range(7)]
    return {day.weekday() for day in days if field.get_next_value(day) == field.get_value(day)}


def add(schedule_model: Any, name: str, trigger: dict[str, Any], *, kind: str | None = None) -> None:
    schedule_model.objects.create(
        name=name,
        task="proj.tasks.report",
        trigger=trigger,
        trigger_kind=kind or trigger["type"],
        timezone="Europe/Paris",
        next_fire_at=NEXT_FIRE_AT,
    )


def triggers(schedule_model: Any) -> dict[str, dict[str, Any]]:
    return {row.name: row.trigger for row in schedule_model.objects.all()}


OLD_ROWS = {
    "weekdays by number": {"type": "cron", "day_of_week": "0-4", "hour": "9"},
    "sunday by number": {"type": "cron", "day_of_week": "6", "hour": "9"},
    "every other day": {"type": "cron", "day_of_week": "*/2", "hour": "9"},
    "names": {"type": "cron", "day_of_week": "mon-fri", "hour": "9"},
    "crontab": {"type": "cron", "expression": "0 9 * * 0"},
    "interval": {"type": "interval", "weeks": 0, "days": 0, "hours": 1, "minutes": 0, "seconds": 0},
    "nested": {
        "type": "or",
        "triggers": [
            {"type": "cron", "day_of_week": "5,6", "hour": "10"},
            {
                "type": "and",
                "triggers": [{"type": "cron", "day_of_week": "0", "hour": "8"}, {"type": "cron", "hour": "8"}],
            },
        ],
    },
}
RENUMBERED_ROWS = {
    "weekdays by number": {"type": "cron", "day_of_week": "mon-fri", "hour": "9"},
    "sunday by number": {"type": "cron", "day_of_week": "sun", "hour": "9"},
    "every other day": {"type": "cron", "day_of_week": "mon,wed,fri,sun", "hour": "9"},
    "names": OLD_ROWS["names"],
    "crontab": OLD_ROWS["crontab"],
    "interval": OLD_ROWS["interval"],
    "nested": {
        "type": "or",
        "triggers": [
            {"type": "cron", "day_of_week": "sat,sun", "hour": "10"},
            {
                "type": "and",
                "triggers": [{"type": "cron", "day_of_week": "mon", "hour": "8"}, {"type": "cron", "hour": "8"}],
            },
        ],
    },
}


def test_forwards_rewrites_numbered_weekdays_to_the_same_days_by_name(migration_executor: MigrationExecutor) -> None:
    old_model = migrate(migration_executor, BEFORE)
    for name, trigger in OLD_ROWS.items():
        add(old_model, name, trigger)

    new_model = migrate(migration_executor, RENUMBERED)

    assert triggers(new_model) == RENUMBERED_ROWS
    for name in ("weekdays by number", "sunday by number", "every other day"):
        old_value = OLD_ROWS[name]["day_of_week"]
        assert read_weekdays(RENUMBERED_ROWS[name]["day_of_week"]) == apscheduler3_days(old_value), name
    assert set(new_model.objects.values_list("next_fire_at", flat=True)) == {NEXT_FIRE_AT}


def test_forwards_rewrites_a_row_whose_trigger_kind_is_stale(migration_executor: MigrationExecutor) -> None:
    old_model = migrate(migration_executor, BEFORE)
    add(old_model, "updated with update()", {"type": "cron", "day_of_week": "0", "hour": "9"}, kind="interval")

    new_model = migrate(migration_executor, RENUMBERED)

    assert new_model.objects.get().trigger == {"type": "cron", "day_of_week": "mon", "hour": "9"}


def test_backwards_rewrites_what_apscheduler3_would_read_differently(migration_executor: MigrationExecutor) -> None:
    migrate(migration_executor, BEFORE)
    new_model = migrate(migration_executor, RENUMBERED)
    current = {
        "sunday by number": {"type": "cron", "day_of_week": "0", "hour": "9"},
        "weekdays by number": {"type": "cron", "day_of_week": "1-5", "hour": "9"},
        "wrapping range": {"type": "cron", "day_of_week": "sat-mon", "hour": "9"},
        "names": {"type": "cron", "day_of_week": "mon-fri", "hour": "9"},
        "nested": {"type": "and", "triggers": [{"type": "cron", "day_of_week": "6-1"}, {"type": "cron", "hour": "8"}]},
    }
    for name, trigger in current.items():
        add(new_model, name, trigger)

    old_model = migrate(migration_executor, BEFORE)

    restored = triggers(old_model)
    assert restored["sunday by number"]["day_of_week"] == "sun"
    assert restored["weekdays by number"]["day_of_week"] == "mon-fri"
    assert restored["wrapping range"]["day_of_week"] == "mon,sat,sun"
    assert restored["names"] == current["names"]
    assert restored["nested"]["triggers"][0] == {"type": "cron", "day_of_week": "mon,sat,sun"}
    for name in ("sunday by number", "weekdays by number", "wrapping range"):
        assert apscheduler3_days(restored[name]["day_of_week"]) == read_weekdays(current[name]["day_of_week"]), name


def test_forwards_then_backwards_keeps_every_schedules_days(migration_executor: MigrationExecutor) -> None:
    old_model = migrate(migration_executor, BEFORE)
    for name, trigger in OLD_ROWS.items():
        add(old_model, name, trigger)

    migrate(migration_executor, RENUMBERED)
    round_trip = triggers(migrate(migration_executor, BEFORE))

    for name, trigger in OLD_ROWS.items():
        if "day_of_week" in trigger:
            assert apscheduler3_days(round_trip[name]["day_of_week"]) == apscheduler3_days(trigger["day_of_week"])
    assert round_trip["crontab"] == OLD_ROWS["crontab"]
    assert apscheduler3_days(round_trip["nested"]["triggers"][0]["day_of_week"]) == {SAT, SUN}
    assert apscheduler3_days(round_trip["nested"]["triggers"][1]["triggers"][0]["day_of_week"]) == {MON}
