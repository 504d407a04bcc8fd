"""Reacting to what happens (#10): ``schedule_changed`` and ``run_changed`` signals, ``run_now(force=True)``,
``Execution.wait`` and ``current_execution``; in-process, then with real beat and worker processes."""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from beat_store import (
    add_schedule,
    current_execution,
    executions,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    run_now,
    store,
)
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution, Schedule
from beat_store.sending import dispatch
from beat_store.signals import run_changed, schedule_changed
from tests.celery_app import app as tests_app
from tests.integration.processes import CeleryProcesses, wait_until
from tests.integration.test_admin import ADD_URL, form_data

EVERY_MINUTE = {"type": "cron", "expression": "* * * * *"}
HOURLY = {"type": "interval", "hours": 1}


@pytest.fixture
def schedule_changes() -> Iterator[list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []

    def receiver(sender: Any, schedule: Schedule, change: str, **kwargs: Any) -> None:
        seen.append((schedule.name, change))

    schedule_changed.connect(receiver, weak=False, dispatch_uid="test.schedule_changes")
    yield seen
    schedule_changed.disconnect(dispatch_uid="test.schedule_changes")


@pytest.fixture
def run_changes() -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def receiver(sender: Any, **change: Any) -> None:
        seen.append({key: value for key, value in change.items() if key != "signal"})

    run_changed.connect(receiver, weak=False, dispatch_uid="test.run_changes")
    yield seen
    run_changed.disconnect(dispatch_uid="test.run_changes")


# --- schedule_changed --------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_api_announces_each_change_of_a_schedule(schedule_changes: list[tuple[str, str]]) -> None:
    add_schedule("job", "tests.add", EVERY_MINUTE)
    add_schedule("job", "tests.add", HOURLY, conflict_policy="replace")
    add_schedule("job", "tests.add", HOURLY, conflict_policy="replace")  # unchanged: nothing saved, nothing said
    pause_schedule("job")
    resume_schedule("job")
    remove_schedule("job")

    assert schedule_changes == [
        ("job", "added"),
        ("job", "updated"),
        ("job", "paused"),
        ("job", "resumed"),
        ("job", "removed"),
    ]


@pytest.mark.django_db(transaction=True)
def test_the_admin_announces_its_changes(admin_client: Client, schedule_changes: list[tuple[str, str]]) -> None:
    tests_app.set_current()
    admin_client.post(ADD_URL, form_data(name="from the admin"))
    schedule = Schedule.objects.get(name="from the admin")
    admin_client.post(reverse("admin:beat_store_schedule_pause", args=[schedule.pk]))
    admin_client.post(reverse("admin:beat_store_schedule_delete", args=[schedule.pk]), {"post": "yes"})

    assert [change for _, change in schedule_changes] == ["added", "paused", "removed"]
    assert {name for name, _ in schedule_changes} == {"from the admin"}


@pytest.mark.django_db(transaction=True)
def test_changes_are_announced_after_the_commit_and_never_for_a_rollback(
    schedule_changes: list[tuple[str, str]],
) -> None:
    with transaction.atomic():
        add_schedule("kept", "tests.add", EVERY_MINUTE)
        assert schedule_changes == []
    with transaction.atomic():
        add_schedule("rolled back", "tests.add", EVERY_MINUTE)
        transaction.set_rollback(True)

    assert schedule_changes == [("kept", "added")]


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_raises_is_logged_and_breaks_nothing(caplog: pytest.LogCaptureFixture) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    schedule_changed.connect(broken, weak=False, dispatch_uid="test.broken")
    try:
        with caplog.at_level(logging.ERROR, logger="beat_store.signals"):
            schedule = add_schedule("job", "tests.add", EVERY_MINUTE)
    finally:
        schedule_changed.disconnect(dispatch_uid="test.broken")

    assert Schedule.objects.filter(pk=schedule.pk).exists()
    assert "a schedule_changed receiver" in caplog.text
    assert "RuntimeError: receiver bug" in caplog.text


# --- run_changed, in-process ---------------------------------------------------------------------------------------


def statuses_by_run(changes: list[dict[str, Any]]) -> dict[int, list[tuple[str | None, str]]]:
    by_run: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
    for change in changes:
        by_run[int(change["execution_id"])].append((change["previous_status"], change["status"]))
    return dict(by_run)


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_run_is_announced_once_per_status_it_enters(run_changes: list[dict[str, Any]]) -> None:
    schedule = add_schedule("job", "tests.add", HOURLY, args=[1, 2])
    now = schedule.next_fire_at + timedelta(seconds=1)  # type: ignore[operator]

    summary = store.plan_due_schedules(now, limit=10, rng=random.Random(0), owner="me")
    dispatch.send_planned_runs(summary.ready, app=tests_app, now=now)
    (run,) = Execution.objects.all()
    executions.mark_started(run.task_id, worker="w1")
    executions.mark_started(run.task_id, worker="w1")  # a repeated report: no second announcement
    executions.mark_succeeded(run.task_id, result=3)

    assert statuses_by_run(run_changes) == {
        run.pk: [(None, S.PENDING), (S.PENDING, S.SENT), (S.SENT, S.STARTED), (S.STARTED, S.SUCCEEDED)]
    }
    first = run_changes[0]
    assert first["schedule_name"] == "job"
    assert first["task_id"] == run.task_id
    assert first["fire_time"] == run.fire_time
    assert first["manual"] is False


@pytest.mark.django_db(transaction=True)
def test_skipped_missed_failed_and_lost_runs_are_announced(run_changes: list[dict[str, Any]]) -> None:
    skipping = add_schedule("skipping", "tests.add", HOURLY, max_instances=1)
    run_now("skipping")  # holds the one instance
    late = add_schedule("late", "tests.add", {"type": "interval", "minutes": 1}, misfire_grace_time=1, coalesce="all")
    failing = add_schedule("failing", "tests.add", HOURLY)
    now = timezone.now() + timedelta(minutes=3)
    Schedule.objects.filter(pk=skipping.pk).update(next_fire_at=now, updated_at=now)
    Schedule.objects.filter(pk=failing.pk).update(next_fire_at=now, updated_at=now)
    Schedule.objects.filter(pk=late.pk).update(next_fire_at=now - timedelta(minutes=2), updated_at=now)

    summary = store.plan_due_schedules(now, limit=10, rng=random.Random(0), owner="me")
    dispatch.send_planned_runs(summary.ready, app=tests_app, now=now)
    failed = Execution.objects.get(schedule_name="failing")
    executions.mark_failed(failed.task_id, exception=ValueError("boom"), traceback="...")
    manual = Execution.objects.get(schedule_name="skipping", manual=True)
    executions.mark_lost_by([manual.pk], by="an operator", at=timezone.now())

    entered = {(change["schedule_name"], change["status"]) for change in run_changes}
    assert {("skipping", S.SKIPPED), ("late", S.MISSED), ("failing", S.FAILED), ("skipping", S.LOST)} <= entered
    assert len(run_changes) == len({(c["execution_id"], c["status"]) for c in run_changes})  # each once


@pytest.mark.django_db(transaction=True)
def test_no_receiver_means_no_extra_query(django_assert_max_num_queries: Any) -> None:
    schedule = add_schedule("job", "tests.add", HOURLY)
    run = run_now("job")
    executions.mark_started(run.task_id, worker="w1")

    with django_assert_max_num_queries(1):
        executions.mark_succeeded(run.task_id, result=1)
    assert Execution.objects.get(schedule=schedule).status == S.SUCCEEDED


# --- run_now(force=True), wait, current_execution -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_now_with_force_sends_past_max_instances_and_says_so() -> None:
    add_schedule("single", "tests.add", HOURLY, args=[1, 1], max_instances=1)
    first = run_now("single")

    refused = run_now("single")
    forced = run_now("single", force=True, kwargs={})

    assert (first.status, first.forced) == (S.SENT, False)
    assert refused.status == S.SKIPPED
    assert (forced.status, forced.manual, forced.forced) == (S.SENT, True, True)


def test_run_now_wait_returns_the_result_and_the_task_sees_its_own_record(beat_store_worker: object, db: None) -> None:
    add_schedule("whoami", "tests.whoami", HOURLY)
    add_schedule("adder", "tests.add", HOURLY, args=[2, 3])

    whoami = run_now("whoami")
    assert run_now("adder").wait(15).result == "5"
    assert whoami.wait(15).result == str(whoami.pk)
    assert current_execution() is None  # outside a task


@pytest.mark.django_db(transaction=True)
def test_the_admin_forces_a_run_past_max_instances(admin_client: Client) -> None:
    tests_app.set_current()
    schedule = add_schedule("single", "tests.add", HOURLY, args=[1, 1], max_instances=1)
    run_now("single")
    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    admin_client.post(reverse("admin:beat_store_schedule_run_now", args=[schedule.pk]))
    admin_client.post(reverse("admin:beat_store_schedule_run_now_force", args=[schedule.pk]))

    assert "Run now (force)" in page
    statuses = list(Execution.objects.order_by("id").values_list("status", "forced"))
    assert statuses == [(S.SENT, False), (S.SKIPPED, False), (S.SENT, True)]


@pytest.mark.django_db(transaction=True)
def test_the_admin_runs_now_with_keyword_arguments_of_its_own(admin_client: Client) -> None:
    tests_app.set_current()
    schedule = add_schedule("report", "tests.add", HOURLY, args=[1, 1], kwargs={"format": "pdf"}, max_instances=1)
    url = reverse("admin:beat_store_schedule_run_now_with", args=[schedule.pk])
    page = admin_client.get(url).content.decode()
    change_page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()

    bad = admin_client.post(url, {"kwargs": '{"x": NaN}'})
    admin_client.post(url, {"kwargs": '{"format": "csv"}'})
    admin_client.post(url, {"kwargs": '{"format": "html"}', "force": "on"})

    assert "Run now with…" in change_page
    assert "&quot;format&quot;: &quot;pdf&quot;" in page  # the schedule's own, to edit
    assert bad.status_code == 200
    assert "nan is not a JSON number" in bad.content.decode()
    runs = list(Execution.objects.order_by("id").values_list("kwargs_override", "status", "forced"))
    assert runs == [({"format": "csv"}, S.SENT, False), ({"format": "html"}, S.SENT, True)]


# --- real beat and worker processes ---------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.timeout(180)
def test_real_processes_announce_each_status_once_where_it_happens(
    celery_processes: CeleryProcesses, tmp_path: Path
) -> None:
    log = tmp_path / "run-changes.jsonl"
    celery_processes.extra_environment["BEAT_STORE_TEST_SIGNAL_LOG"] = str(log)
    add_schedule("adds", "tests.add", {"type": "interval", "seconds": 1}, args=[1, 1])
    add_schedule("fails", "tests.fail", {"type": "interval", "seconds": 1})
    add_schedule("sleeps", "tests.sleep", {"type": "interval", "seconds": 1}, args=[3], max_instances=1)
    late = add_schedule("late", "tests.add", {"type": "interval", "seconds": 10}, misfire_grace_time=1, coalesce="all")
    Schedule.objects.filter(pk=late.pk).update(
        next_fire_at=timezone.now() - timedelta(seconds=35), updated_at=timezone.now()
    )
    worker = celery_processes.start_worker(concurrency=4)
    beat = celery_processes.start_beat()

    def final(name: str, status: str) -> bool:
        return Execution.objects.filter(schedule_name=name, status=status).exists()

    wait_until(
        lambda: all(
            final(*wanted)
            for wanted in [("adds", S.SUCCEEDED), ("fails", S.FAILED), ("sleeps", S.SKIPPED), ("late", S.MISSED)]
        ),
        timeout=60,
        message="a succeeded, failed, skipped and missed run",
    )
    celery_processes.stop(beat)
    celery_processes.stop(worker)

    changes = [json.loads(line) for line in log.read_text().splitlines()]
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        by_run[change["execution_id"]].append(change)
    for execution in Execution.objects.exclude(status=S.PENDING):
        entered = [change["status"] for change in by_run[str(execution.pk)]]
        assert len(entered) == len(set(entered)), (execution.schedule_name, entered)  # once per status
        assert entered[-1] == execution.status, (execution.schedule_name, entered)
    full_path = [("None", "pending"), ("pending", "sent"), ("sent", "started"), ("started", "succeeded")]
    # A worker may start a run before beat records it sent: it goes from pending to started (spec "Signals").
    raced_path = [("None", "pending"), ("pending", "started"), ("started", "succeeded")]
    paths = {
        run.pk: [(c["previous_status"], c["status"]) for c in by_run[str(run.pk)]]
        for run in Execution.objects.filter(schedule_name="adds", status=S.SUCCEEDED)
    }
    assert all(path in (full_path, raced_path) for path in paths.values()), paths
    through_sent = [pk for pk, path in paths.items() if path == full_path]
    assert through_sent, paths
    pids = {c["status"]: c["pid"] for c in by_run[str(through_sent[0])]}
    assert pids["pending"] == pids["sent"] == beat.pid  # beat-side statuses in beat
    assert pids["started"] == pids["succeeded"] == worker.pid  # worker-side ones in the worker
