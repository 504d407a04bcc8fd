"""Runs decided ahead, as people see them (#12): "next fire time" stays the next fire time in the admin,
``beat_store_list``, the metrics and the health check, and a staged run's state is visible in the execution admin.

Staging is simulated here as a beat records it (``staged_runs.hold_for_staging``): the run pending and held by
the staging area, the schedule's ``next_fire_at`` moved past it. No broker is needed to show it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from beat_store import add_schedule
from beat_store.admin.display import local_time
from beat_store.enums import ExecutionStatus as S
from beat_store.health import HealthThresholds, evaluate_health
from beat_store.listing import format_table, list_schedules
from beat_store.models import Execution, Schedule
from beat_store.runs import STAGED
from beat_store.staged_runs import HOLD
from tests.integration.test_metrics import samples

pytestmark = pytest.mark.django_db

SCHEDULES_URL = reverse("admin:beat_store_schedule_changelist")
EXECUTIONS_URL = reverse("admin:beat_store_execution_changelist")
METRICS_URL = reverse("beat_store:metrics")
HOURLY = {"type": "cron", "expression": "0 * * * *"}


def stage_next_run(schedule: Schedule, *, send_at: datetime | None = None) -> Execution:
    """What a beat records when it decides the schedule's next run ahead: the run pending, held by the staging
    area, and ``next_fire_at`` moved past its fire time (``finished_at`` set when the trigger has no more)."""
    fire_time = schedule.next_fire_at
    assert fire_time is not None
    send_at = send_at or fire_time
    now = timezone.now()
    run = Execution.objects.create(
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=fire_time,
        send_at=send_at,
        task_id=f"{schedule.name}-{fire_time.isoformat()}",
        status=S.PENDING,
        lease_owner=STAGED,
        lease_until=send_at + HOLD,
        staged_at=now,
        publish_attempted_at=now,
    )
    following = schedule.build_trigger().next_at_or_after(fire_time + timedelta(microseconds=1))
    Schedule.objects.filter(pk=schedule.pk).update(
        next_fire_at=following, finished_at=None if following else fire_time, last_fire_at=fire_time
    )
    schedule.refresh_from_db()
    return run


def once(name: str, *, in_seconds: int = 20) -> Schedule:
    """A ``date`` schedule firing once, soon."""
    run_at = timezone.now().replace(microsecond=0) + timedelta(seconds=in_seconds)
    return add_schedule(name, "tests.add", {"type": "date", "run_at": run_at.isoformat()}, args=[1, 2])


def release(run: Execution) -> None:
    """What the release at the send time records: the run sent, no longer held."""
    Execution.objects.filter(pk=run.pk).update(status=S.SENT, lease_owner="", lease_until=None, sent_at=run.send_at)


# --- the model ---------------------------------------------------------------------------------------------


def test_the_upcoming_fire_time_is_the_first_staged_run_else_next_fire_at() -> None:
    staged = add_schedule("staged", "tests.add", HOURLY)
    first = stage_next_run(staged)
    stage_next_run(staged)
    plain = add_schedule("plain", "tests.add", HOURLY)

    upcoming = dict(Schedule.objects.with_upcoming_fire().values_list("name", "upcoming_fire_at"))

    assert upcoming == {"staged": first.fire_time, "plain": plain.next_fire_at}
    assert staged.next_fire_at is not None
    assert staged.next_fire_at > first.fire_time  # beat's cursor moved past both staged runs


def test_a_released_run_is_no_longer_the_upcoming_fire_time() -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    release(stage_next_run(schedule))

    assert Schedule.objects.with_upcoming_fire().get().upcoming_fire_at == schedule.next_fire_at


def test_an_instance_reads_the_annotation_without_a_query_and_queries_once_without_it(
    django_assert_num_queries: Any,
) -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    run = stage_next_run(schedule)
    annotated = Schedule.objects.with_upcoming_fire().get()
    plain = Schedule.objects.get()

    with django_assert_num_queries(0):
        assert annotated.upcoming_fire_at == run.fire_time
    with django_assert_num_queries(1):
        assert plain.upcoming_fire_at == run.fire_time


def test_a_date_schedule_whose_run_is_staged_is_finished_only_once_it_is_released() -> None:
    schedule = once("once")
    run = stage_next_run(schedule)
    assert (schedule.next_fire_at, schedule.finished_at) == (None, run.fire_time)

    assert not schedule.is_finished
    assert schedule.upcoming_fire_at == run.fire_time
    assert list(Schedule.objects.unfinished()) == [schedule]
    assert not Schedule.objects.finished().exists()

    release(run)

    assert schedule.is_finished
    assert list(Schedule.objects.finished()) == [schedule]
    assert not Schedule.objects.unfinished().exists()


def test_an_execution_knows_it_is_staged_until_released() -> None:
    run = stage_next_run(add_schedule("hourly", "tests.add", HOURLY))

    assert run.is_staged
    assert list(Execution.objects.staged()) == [run]
    release(run)
    run.refresh_from_db()
    assert not run.is_staged
    assert not Execution.objects.staged().exists()


# --- the schedule admin --------------------------------------------------------------------------------------


def test_the_schedule_list_shows_the_staged_fire_time_as_next_and_marks_it(admin_client: Client) -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    run = stage_next_run(schedule)

    page = admin_client.get(SCHEDULES_URL).content.decode()

    assert local_time(run.fire_time) in page
    assert local_time(schedule.next_fire_at) not in page
    assert ">staged</small>" in page


def test_the_schedule_list_sorts_by_the_next_fire_time_shown(admin_client: Client) -> None:
    later = add_schedule("b-later", "tests.add", {"type": "interval", "minutes": 50})
    soon = add_schedule("a-soon", "tests.add", {"type": "interval", "minutes": 70})
    assert later.next_fire_at is not None
    assert soon.next_fire_at is not None
    assert later.next_fire_at < soon.next_fire_at
    stage_next_run(soon)  # its next_fire_at moves 70 minutes on; the fire time shown stays where it was
    Schedule.objects.filter(pk=later.pk).update(next_fire_at=soon.next_fire_at + timedelta(minutes=5))

    page = admin_client.get(f"{SCHEDULES_URL}?o=4").content.decode()  # the 4th column: next fire time

    assert page.index(">a-soon<") < page.index(">b-later<")


def test_a_date_schedule_whose_run_is_staged_is_active_not_finished_in_the_admin(admin_client: Client) -> None:
    run = stage_next_run(once("once"))

    finished = admin_client.get(f"{SCHEDULES_URL}?state=finished").content.decode()
    active = admin_client.get(f"{SCHEDULES_URL}?state=active").content.decode()

    assert ">once<" not in finished
    assert ">once<" in active
    assert local_time(run.fire_time) in active
    release(run)
    assert ">once<" in admin_client.get(f"{SCHEDULES_URL}?state=finished").content.decode()
    assert ">once<" not in admin_client.get(f"{SCHEDULES_URL}?state=active").content.decode()


def test_the_schedule_page_shows_the_staged_fire_time_as_next(admin_client: Client) -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    run = stage_next_run(schedule)

    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    field = page[page.index("field-next_fire_time") :]
    shown = field[field.index('<div class="readonly">') : field.index("</div>")]
    assert local_time(run.fire_time) in shown
    assert ">staged</small>" in shown
    assert "· staged, released at" in page  # the run, among the recent ones


def test_the_schedule_list_costs_the_same_queries_with_more_staged_schedules(admin_client: Client) -> None:
    stage_next_run(add_schedule("s-0", "tests.add", HOURLY))
    admin_client.get(SCHEDULES_URL)  # the session and the like, once
    with CaptureQueriesContext(connection) as one:
        admin_client.get(SCHEDULES_URL)
    for index in range(1, 6):
        stage_next_run(add_schedule(f"s-{index}", "tests.add", HOURLY))
        stage_next_run(once(f"once-{index}"))
    with CaptureQueriesContext(connection) as eleven:
        admin_client.get(SCHEDULES_URL)

    assert len(eleven) == len(one)


# --- the execution admin -------------------------------------------------------------------------------------


def test_the_execution_list_says_a_staged_run_is_released_at_its_send_time(admin_client: Client) -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    assert schedule.next_fire_at is not None
    run = stage_next_run(schedule, send_at=schedule.next_fire_at + timedelta(seconds=3))

    page = admin_client.get(EXECUTIONS_URL).content.decode()

    released_at = timezone.localtime(run.send_at).strftime("%H:%M:%S")
    assert f"· staged, released at {released_at}</small>" in page


def test_the_execution_list_says_when_a_staged_runs_release_is_overdue(admin_client: Client) -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=timezone.now() - timedelta(minutes=5))
    schedule.refresh_from_db()
    stage_next_run(schedule)

    page = admin_client.get(EXECUTIONS_URL).content.decode()

    assert "· staged, release overdue since " in page


def test_the_execution_list_filters_staged_runs(admin_client: Client) -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    released = stage_next_run(schedule)
    release(released)
    staged = stage_next_run(schedule)

    page = admin_client.get(f"{EXECUTIONS_URL}?staged=yes").content.decode()
    everything = admin_client.get(EXECUTIONS_URL).content.decode()

    assert "staged, not yet released" in everything  # the filter's choice
    change_url = escape(reverse("admin:beat_store_execution_change", args=[staged.pk]))
    released_url = escape(reverse("admin:beat_store_execution_change", args=[released.pk]))
    assert change_url in page
    assert released_url not in page
    assert released_url in everything


def test_the_execution_page_shows_when_the_run_was_staged(admin_client: Client) -> None:
    run = stage_next_run(add_schedule("hourly", "tests.add", HOURLY))
    assert run.staged_at is not None

    page = admin_client.get(reverse("admin:beat_store_execution_change", args=[run.pk])).content.decode()

    assert "Staged:" in page
    assert local_time(run.staged_at) in page
    assert "· staged, released at" in page


def test_the_execution_list_costs_the_same_queries_with_more_staged_runs(admin_client: Client) -> None:
    schedule = add_schedule("hourly", "tests.add", HOURLY)
    stage_next_run(schedule)
    admin_client.get(EXECUTIONS_URL)
    with CaptureQueriesContext(connection) as one:
        admin_client.get(EXECUTIONS_URL)
    for _ in range(5):
        stage_next_run(schedule)
    with CaptureQueriesContext(connection) as six:
        admin_client.get(EXECUTIONS_URL)

    assert len(six) == len(one)


# --- listing, metrics, health --------------------------------------------------------------------------------


def test_the_list_command_shows_the_staged_fire_time_as_next() -> None:
    hourly = add_schedule("hourly", "tests.add", HOURLY)
    hourly_run = stage_next_run(hourly)
    once_run = stage_next_run(once("once"))

    rows = {row.name: row for row in list_schedules()}

    assert rows["hourly"].next_fire_at == hourly_run.fire_time
    assert rows["once"].next_fire_at == once_run.fire_time
    assert rows["once"].as_json()["next_fire_at"] == once_run.fire_time.isoformat()
    assert "finished" not in format_table(list(rows.values()))


def test_the_metrics_export_the_staged_fire_time_as_next_and_count_the_schedule_active(
    admin_client: Client, settings: Any
) -> None:
    settings.BEAT_STORE_METRICS_SCHEDULES = ["hourly", "once"]
    hourly_run = stage_next_run(add_schedule("hourly", "tests.add", HOURLY))
    once_run = stage_next_run(once("once"))
    release(stage_next_run(once("done")))

    values = samples(admin_client.get(METRICS_URL))

    next_fire = "beat_store_schedule_next_fire_timestamp_seconds"
    assert values[(next_fire, (("schedule", "hourly"),))] == hourly_run.fire_time.timestamp()
    assert values[(next_fire, (("schedule", "once"),))] == once_run.fire_time.timestamp()
    assert values[("beat_store_schedules", (("state", "active"),))] == 2
    assert values[("beat_store_schedules", (("state", "finished"),))] == 1


def test_health_reports_a_staged_run_left_unreleased_long_past_its_send_time() -> None:
    schedule = once("once")
    run = stage_next_run(schedule)
    thresholds = HealthThresholds(max_beat_silence=60)

    on_time = evaluate_health(thresholds, now=run.send_at + timedelta(seconds=30))
    late = evaluate_health(thresholds, now=run.send_at + timedelta(seconds=90))

    assert not any("not released" in problem for problem in on_time.problems)
    assert "run(s) decided ahead still not released 60 s past their send time, of schedule(s): once" in late.problems
