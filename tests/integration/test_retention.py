"""Beat's retention of run history (#14 point 1), against the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from beat_store import retention
from beat_store.api import add_schedule, remove_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution, Schedule
from tests.integration.records import execution_of

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def runs(schedule: Schedule, days_ago: list[float], status: str = S.SUCCEEDED) -> None:
    Execution.objects.bulk_create(execution_of(schedule, NOW - timedelta(days=days), status) for days in days_ago)


def ages(schedule_name: str) -> list[int]:
    fire_times = Execution.objects.filter(schedule_name=schedule_name).values_list("fire_time", flat=True)
    return sorted(round((NOW - moment) / timedelta(days=1)) for moment in fire_times)


def schedule(name: str, **fields: object) -> Schedule:
    return add_schedule(name, "tests.add", {"type": "interval", "hours": 1}, **fields)


@override_settings(BEAT_STORE_KEEP_RUNS_DAYS=30, BEAT_STORE_KEEP_LAST_RUNS=2)
def test_finished_runs_past_the_retention_go_and_open_runs_and_the_newest_stay() -> None:
    hourly = schedule("hourly")
    runs(hourly, [1, 10, 40, 50, 60])
    runs(hourly, [45], status=S.STARTED)  # open: holds a max-instances slot
    rare = schedule("rare")
    runs(rare, [100, 200, 300])  # all old: the newest two are kept

    deleted = retention.prune_batch(NOW, limit=100)

    assert deleted == 4
    assert ages("hourly") == [1, 10, 45]
    assert ages("rare") == [100, 200]


@override_settings(BEAT_STORE_KEEP_RUNS_DAYS=30, BEAT_STORE_KEEP_LAST_RUNS=1)
def test_a_schedules_own_retention_overrides_the_setting() -> None:
    short = schedule("short", keep_runs_days=5)
    runs(short, [1, 6, 20])
    default = schedule("default")
    runs(default, [1, 6, 20])

    retention.prune_batch(NOW, limit=100)

    assert ages("short") == [1]
    assert ages("default") == [1, 6, 20]


@override_settings(BEAT_STORE_KEEP_RUNS_DAYS=30, BEAT_STORE_KEEP_LAST_RUNS=5)
def test_runs_of_a_deleted_schedule_follow_the_setting_whatever_their_number() -> None:
    gone = schedule("gone")
    runs(gone, [1, 40, 50])
    remove_schedule("gone")

    retention.prune_batch(NOW, limit=100)

    assert ages("gone") == [1]


@override_settings(BEAT_STORE_KEEP_RUNS_DAYS=30, BEAT_STORE_KEEP_LAST_RUNS=0)
def test_one_call_deletes_at_most_its_limit_oldest_first() -> None:
    hourly = schedule("hourly")
    runs(hourly, [31, 32, 33, 34, 35])

    first = retention.prune_batch(NOW, limit=2)

    assert first == 2
    assert ages("hourly") == [31, 32, 33]


@override_settings(BEAT_STORE_KEEP_RUNS_DAYS=None)
def test_no_retention_keeps_everything_but_still_applies_a_schedules_own() -> None:
    kept = schedule("kept")
    runs(kept, [400, 800])
    short = schedule("short", keep_runs_days=1)
    runs(short, [100, 200], status=S.FAILED)

    with override_settings(BEAT_STORE_KEEP_LAST_RUNS=0):
        retention.prune_batch(NOW, limit=100)

    assert ages("kept") == [400, 800]
    assert ages("short") == []
