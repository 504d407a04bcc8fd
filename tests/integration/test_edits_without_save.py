"""Schedules edited without save() -- QuerySet.update(), raw SQL -- are planned again from their new timing
(issue #14 point 4, docs/spec.md rule 9), on every supported database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.utils import timezone as dj_timezone

from beat_store import store
from beat_store.api import add_schedule
from beat_store.db.edits import edit_trigger_installed
from beat_store.models import Execution, Schedule
from tests.integration.processes import CeleryProcesses, wait_until

HOURLY = {"type": "cron", "expression": "0 * * * *"}
EVERY_SECOND = {"type": "interval", "seconds": 1}


def stored(name: str) -> Schedule:
    return Schedule.objects.get(name=name)


@pytest.mark.django_db
def test_the_trigger_is_installed_by_the_migrations() -> None:
    assert edit_trigger_installed()


@pytest.mark.django_db
def test_a_queryset_update_of_the_trigger_is_planned_again_from_the_new_trigger() -> None:
    add_schedule("hourly", "tests.add", HOURLY)
    now = dj_timezone.now()

    Schedule.objects.filter(name="hourly").update(trigger=EVERY_SECOND)
    emptied = stored("hourly").next_fire_at
    store.plan_new_schedules(now, limit=10)
    replanned = stored("hourly").next_fire_at

    assert emptied is None
    assert replanned is not None
    assert replanned <= now + timedelta(seconds=1)


@pytest.mark.django_db
def test_a_raw_sql_update_of_the_time_zone_is_seen() -> None:
    add_schedule("nine", "tests.add", {"type": "cron", "expression": "0 9 * * *"}, timezone="UTC")
    before = stored("nine").next_fire_at

    with connection.cursor() as cursor:
        cursor.execute("UPDATE beat_store_schedule SET timezone = %s WHERE name = %s", ["Asia/Tokyo", "nine"])
    store.plan_new_schedules(dj_timezone.now(), limit=10)
    after = stored("nine").next_fire_at

    assert before is not None
    assert after is not None
    assert before.astimezone(timezone.utc).hour == 9
    assert after.astimezone(timezone.utc).hour == 0  # 09:00 in Tokyo


@pytest.mark.django_db
def test_an_edit_through_save_and_beats_own_updates_keep_their_next_fire_time() -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    schedule.trigger = {"type": "cron", "expression": "30 * * * *"}
    schedule.save()
    saved = stored("hourly").next_fire_at
    moved = datetime(2030, 1, 1, tzinfo=timezone.utc)

    Schedule.objects.filter(name="hourly").update(next_fire_at=moved)  # what beat does when it advances
    Schedule.objects.filter(name="hourly").update(description="nightly report", paused=True)

    assert saved is not None
    assert saved.minute == 30
    assert stored("hourly").next_fire_at == moved


@pytest.mark.django_db
def test_a_save_whose_new_timing_gives_the_same_next_fire_time_keeps_it() -> None:
    start = dj_timezone.now() + timedelta(minutes=10)
    schedule = add_schedule("every-hour", "tests.add", {"type": "interval", "hours": 1}, timezone="UTC", start_at=start)
    before = stored("every-hour").next_fire_at
    schedule.timezone = "Asia/Tokyo"  # an interval's instants do not depend on the zone
    schedule.save()

    assert before == start
    assert stored("every-hour").next_fire_at == before


@pytest.mark.django_db
def test_an_edit_that_also_sets_next_fire_at_is_taken_as_written() -> None:
    add_schedule("hourly", "tests.add", HOURLY)
    chosen = datetime(2030, 1, 1, tzinfo=timezone.utc)

    Schedule.objects.filter(name="hourly").update(trigger=EVERY_SECOND, next_fire_at=chosen)

    assert stored("hourly").next_fire_at == chosen


@pytest.mark.redis
def test_a_running_beat_fires_a_schedule_changed_by_update_within_seconds(celery_processes: CeleryProcesses) -> None:
    add_schedule("was-hourly", "tests.add", HOURLY, args=[1, 2])
    celery_processes.start_worker()
    celery_processes.start_beat()
    wait_until(lambda: "beat_store: synced" in celery_processes.logs(), timeout=30, message="beat to start")

    Schedule.objects.filter(name="was-hourly").update(trigger={"type": "interval", "seconds": 2})
    edited_at = dj_timezone.now()
    first = wait_until(
        lambda: Execution.objects.filter(schedule_name="was-hourly").order_by("fire_time").first(),
        timeout=15,
        message="a run of the schedule edited by update()",
    )

    assert first.fire_time - edited_at < timedelta(seconds=4)
