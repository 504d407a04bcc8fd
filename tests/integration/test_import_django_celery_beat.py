"""``beat_store_import --from django-celery-beat`` against django-celery-beat's real tables."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

from beat_store.models import Schedule

pytestmark = pytest.mark.django_db

dcb = pytest.importorskip("django_celery_beat.models", reason="django-celery-beat is in the test extra")

LAST_RUN = datetime(2026, 3, 2, 11, 58, 20, tzinfo=timezone.utc)


def run(*args: str) -> str:
    out = StringIO()
    call_command("beat_store_import", "--from", "django-celery-beat", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def periodic_tasks() -> None:
    """One PeriodicTask per schedule kind, with every option django-celery-beat has."""
    every_ten = dcb.IntervalSchedule.objects.create(every=10, period="minutes")
    dcb.PeriodicTask.objects.create(
        name="interval-task",
        task="tests.add",
        interval=every_ten,
        args="[1, 2]",
        kwargs='{"z": 3}',
        headers='{"h": "v"}',
        queue="fast",
        exchange="ex",
        routing_key="rk",
        priority=5,
        expire_seconds=30,
        description="every ten minutes",
        last_run_at=LAST_RUN,
    )
    paris_mornings = dcb.CrontabSchedule.objects.create(
        minute="0",
        hour="9",
        day_of_week="1-5",
        day_of_month="*",
        month_of_year="*",
        timezone=ZoneInfo("Europe/Paris"),
    )
    dcb.PeriodicTask.objects.create(
        name="crontab-task",
        task="tests.add",
        crontab=paris_mornings,
        expires=datetime(2027, 1, 1, tzinfo=timezone.utc),
        start_time=datetime(2026, 1, 1, tzinfo=timezone.utc),
        last_run_at=datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc),
    )
    clocked = dcb.ClockedSchedule.objects.create(clocked_time=datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc))
    dcb.PeriodicTask.objects.create(name="clocked-task", task="tests.add", clocked=clocked, one_off=True)
    hourly = dcb.IntervalSchedule.objects.create(every=1, period="hours")
    dcb.PeriodicTask.objects.create(name="one-off-task", task="tests.add", interval=hourly, one_off=True)
    dcb.PeriodicTask.objects.create(name="disabled-task", task="tests.add", interval=hourly, enabled=False)
    sunset = dcb.SolarSchedule.objects.create(event="sunset", latitude=48.85, longitude=2.35)
    dcb.PeriodicTask.objects.create(name="solar-task", task="tests.add", solar=sunset)
    cleanup = dcb.CrontabSchedule.objects.create(minute="0", hour="4")
    dcb.PeriodicTask.objects.create(name="celery.backend_cleanup", task="celery.backend_cleanup", crontab=cleanup)


def test_unsupported_entries_are_listed_and_block_the_import(periodic_tasks: None) -> None:
    out = StringIO()

    with pytest.raises(CommandError, match=r"1 entr.* cannot be imported exactly; nothing was written"):
        call_command("beat_store_import", "--from", "django-celery-beat", stdout=out)

    assert "unsupported: solar-task: solar schedules (sunset) have no beat_store trigger" in out.getvalue()
    assert not Schedule.objects.exists()


def test_every_mappable_kind_is_imported_with_its_options(periodic_tasks: None) -> None:
    output = run("--skip-unsupported")

    assert "skipped: celery.backend_cleanup: beat_store declares celery.backend_cleanup itself" in output
    assert sorted(Schedule.objects.values_list("name", flat=True)) == [
        "clocked-task",
        "crontab-task",
        "disabled-task",
        "interval-task",
        "one-off-task",
    ]
    interval = Schedule.objects.get(name="interval-task")
    assert interval.trigger["minutes"] == 10
    assert (interval.args, interval.kwargs, interval.headers) == ([1, 2], {"z": 3}, {"h": "v"})
    assert (interval.queue, interval.exchange, interval.routing_key, interval.priority) == (
        "fast",
        "ex",
        "rk",
        5,
    )
    assert (interval.expires, interval.description, interval.source) == (30.0, "every ten minutes", "import")


def test_last_run_carries_over_so_nothing_fires_twice_or_is_skipped(periodic_tasks: None) -> None:
    run("--skip-unsupported")

    interval = Schedule.objects.get(name="interval-task")
    assert interval.last_fire_at == LAST_RUN
    assert interval.next_fire_at == LAST_RUN + timedelta(minutes=10)
    crontab = Schedule.objects.get(name="crontab-task")
    assert crontab.last_fire_at == datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    assert crontab.next_fire_at == datetime(2026, 3, 3, 8, 0, tzinfo=timezone.utc)  # Tuesday 09:00 in Paris


def test_crontab_keeps_its_zone_bounds_and_expression(periodic_tasks: None) -> None:
    run("--skip-unsupported")

    crontab = Schedule.objects.get(name="crontab-task")
    assert crontab.trigger == {"type": "cron", "expression": "0 9 * * 1-5"}
    assert crontab.timezone == "Europe/Paris"
    assert crontab.start_at == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert crontab.end_at == datetime(2027, 1, 1, tzinfo=timezone.utc)


def test_clocked_becomes_a_date_one_off_ends_after_its_next_fire_and_disabled_is_paused(
    periodic_tasks: None,
) -> None:
    run("--skip-unsupported")

    clocked = Schedule.objects.get(name="clocked-task")
    assert clocked.trigger["type"] == "date"
    assert clocked.next_fire_at == datetime(2030, 5, 1, 12, 0, tzinfo=timezone.utc)
    one_off = Schedule.objects.get(name="one-off-task")
    assert one_off.end_at is not None
    assert one_off.end_at == one_off.next_fire_at
    assert Schedule.objects.get(name="disabled-task").paused is True


def test_second_import_reports_every_schedule_unchanged(periodic_tasks: None) -> None:
    run("--skip-unsupported")
    before = list(Schedule.objects.values())

    output = run("--skip-unsupported")

    assert "0 created, 0 updated, 5 unchanged." in output
    assert list(Schedule.objects.values()) == before


def test_a_later_run_in_django_celery_beat_moves_the_next_fire_time_on(periodic_tasks: None) -> None:
    run("--skip-unsupported")
    dcb.PeriodicTask.objects.filter(name="interval-task").update(last_run_at=LAST_RUN + timedelta(minutes=10))

    output = run("--skip-unsupported")

    assert "updated: interval-task" in output
    assert Schedule.objects.get(name="interval-task").next_fire_at == LAST_RUN + timedelta(minutes=20)


def test_dry_run_shows_the_plan_and_writes_nothing(periodic_tasks: None) -> None:
    output = run("--skip-unsupported", "--dry-run")

    assert "would be created: interval-task" in output
    assert output.strip().endswith("Dry run: nothing was written.")
    assert not Schedule.objects.exists()


def test_bad_json_arguments_are_reported_by_name(periodic_tasks: None) -> None:
    dcb.PeriodicTask.objects.filter(name="interval-task").update(kwargs="{oops")
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("beat_store_import", "--from", "django-celery-beat", stdout=out)

    assert "unsupported: interval-task: its kwargs are not valid JSON" in out.getvalue()
