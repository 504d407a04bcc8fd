"""``beat_store_import --from redbeat`` against keys written by redbeat itself in a real Redis."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from celery import Celery
from celery.schedules import crontab, schedule
from django.core.management import CommandError, call_command

from beat_store.models import Schedule
from tests.conftest import flushed_redis

pytestmark = [pytest.mark.django_db, pytest.mark.redis]

redbeat_schedulers = pytest.importorskip("redbeat.schedulers", reason="celery-redbeat is in the test extra")
redbeat_schedules = pytest.importorskip("redbeat.schedules", reason="celery-redbeat is in the test extra")

#: Database 14: this suite flushes only it.
REDBEAT_URL = os.environ.get("BEAT_STORE_TEST_REDBEAT_URL", "redis://127.0.0.1:6379/14")
LAST_RUN = datetime(2026, 3, 2, 11, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def redbeat_app() -> Iterator[Celery]:
    with flushed_redis(REDBEAT_URL):
        app = Celery("redbeat-source", set_as_current=False)
        app.conf.redbeat_redis_url = REDBEAT_URL
        app.conf.timezone = "UTC"
        yield app


def save_entry(app: Celery, name: str, when: object, *, last_run_at: datetime | None = None, **fields: object) -> None:
    entry = redbeat_schedulers.RedBeatSchedulerEntry(name, "tests.add", when, app=app, **fields)
    entry.save()
    if last_run_at is not None:
        entry.reschedule(last_run_at=last_run_at)


def run(*args: str) -> str:
    out = StringIO()
    call_command("beat_store_import", "--from", "redbeat", "--redis-url", REDBEAT_URL, *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def entries(redbeat_app: Celery) -> None:
    save_entry(
        redbeat_app,
        "every-minute",
        schedule(run_every=timedelta(minutes=1)),
        args=[1, 2],
        kwargs={"k": "v"},
        options={"queue": "fast", "priority": 4, "expires": 20},
        last_run_at=LAST_RUN,
    )
    save_entry(redbeat_app, "weekday-nine", crontab(minute="0", hour="9", day_of_week="mon-fri"), enabled=False)
    start = datetime(2026, 1, 1, 6, 30, tzinfo=timezone.utc)
    save_entry(redbeat_app, "daily-rrule", redbeat_schedules.rrule("DAILY", dtstart=start, interval=2))
    save_entry(redbeat_app, "byhour-rrule", redbeat_schedules.rrule("DAILY", dtstart=start, byhour=[6, 18]))


def test_unsupported_rrules_are_listed_and_block_the_import(entries: None) -> None:
    out = StringIO()

    with pytest.raises(CommandError, match="nothing was written"):
        call_command("beat_store_import", "--from", "redbeat", "--redis-url", REDBEAT_URL, stdout=out)

    assert "unsupported: byhour-rrule: rrules with BYHOUR have no beat_store trigger" in out.getvalue()
    assert not Schedule.objects.exists()


def test_interval_crontab_and_plain_rrule_entries_are_imported(entries: None) -> None:
    run("--skip-unsupported")

    assert sorted(Schedule.objects.values_list("name", flat=True)) == [
        "daily-rrule",
        "every-minute",
        "weekday-nine",
    ]
    minute = Schedule.objects.get(name="every-minute")
    assert minute.trigger["seconds"] == 60
    assert (minute.args, minute.kwargs, minute.queue, minute.priority, minute.expires) == (
        [1, 2],
        {"k": "v"},
        "fast",
        4,
        20.0,
    )
    weekday = Schedule.objects.get(name="weekday-nine")
    assert weekday.trigger == {"type": "cron", "expression": "0 9 * * mon-fri"}
    assert weekday.paused is True
    daily = Schedule.objects.get(name="daily-rrule")
    assert daily.trigger["days"] == 2
    assert daily.start_at == datetime(2026, 1, 1, 6, 30, tzinfo=timezone.utc)


def test_last_run_carries_over(entries: None) -> None:
    run("--skip-unsupported")

    minute = Schedule.objects.get(name="every-minute")
    assert minute.last_fire_at == LAST_RUN
    assert minute.next_fire_at == LAST_RUN + timedelta(minutes=1)


def test_second_import_changes_nothing(entries: None) -> None:
    run("--skip-unsupported")

    output = run("--skip-unsupported")

    assert "0 created, 0 updated, 3 unchanged." in output


def test_an_unreachable_redis_is_a_clear_command_error() -> None:
    with pytest.raises(CommandError, match=r"cannot read redbeat's keys at redis://127\.0\.0\.1:1/0"):
        call_command("beat_store_import", "--from", "redbeat", "--redis-url", "redis://127.0.0.1:1/0")
