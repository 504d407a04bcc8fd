"""Fuzzing (hypothesis) of every way input gets in: add_schedule, the admin form, imported files and rows written
into the table around validation. Each must end in a clear, documented error or a working schedule: never an
exception of another type, a 500, a computation over its time budget, or a beat that stops sending the other
schedules' runs (the last with real beat and worker processes). docs/spec.md "Limits" is the contract."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import DatabaseError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import event, given, reject
from hypothesis import strategies as st

from beat_store import add_schedule, store
from beat_store.enums import ExecutionStatus
from beat_store.models import Execution, Schedule
from beat_store.sending import dispatch
from beat_store.triggers import next_fire_times
from tests.celery_app import app as tests_app
from tests.integration.fuzz_strategies import (
    FORM_FIELDS,
    FUZZ_SETTINGS,
    JSON_VALUES,
    RAW_ROWS,
    SCHEDULE_VALUES,
    TASKS,
    TRIGGER_SPECS,
    time_allowed,
)
from tests.integration.processes import CeleryProcesses, wait_until
from tests.integration.test_admin import ADD_URL, LIST_URL, form_data

pytestmark = pytest.mark.django_db

#: Small budgets, so that a draw that runs into them costs little; the bound below is checked against them.
TRIGGER_BUDGET = 0.1
PLAN_BUDGET = 0.2
ALLOWED = time_allowed(PLAN_BUDGET).total_seconds()


@pytest.fixture(autouse=True)
def small_budgets(settings: Any) -> None:
    settings.BEAT_STORE_TRIGGER_TIME_BUDGET = TRIGGER_BUDGET
    settings.BEAT_STORE_PLAN_TIME_BUDGET = PLAN_BUDGET
    tests_app.set_current()


def in_savepoint(operation: Any) -> Any:
    """Run ``operation`` in a savepoint rolled back afterwards: each example starts from an empty table."""
    with transaction.atomic():
        try:
            return operation()
        finally:
            transaction.set_rollback(True)


def timed(operation: Any) -> tuple[Any, float]:
    started = time.monotonic()
    outcome = operation()
    return outcome, time.monotonic() - started


def assert_works(schedule: Schedule) -> None:
    """A schedule that was accepted: its next fire time computes within the budget (validation vouches for the
    first one; a later one that runs over is beat's to pause, see test_hostile_beat.py)."""
    schedule.refresh_from_db()
    assert not schedule.paused or schedule.last_error == ""
    next_fire_times(
        schedule.trigger,
        timezone=schedule.timezone,
        count=1,
        start_at=schedule.start_at,
        end_at=schedule.end_at,
    )


@FUZZ_SETTINGS.__class__(FUZZ_SETTINGS, max_examples=300)
@given(task=TASKS, trigger=TRIGGER_SPECS, values=SCHEDULE_VALUES)
def test_add_schedule_gives_a_working_schedule_or_a_validation_error(
    task: str, trigger: Any, values: dict[str, Any]
) -> None:
    def attempt() -> str:
        try:
            schedule = add_schedule("fuzzed", task, trigger, **values)
        except ValidationError as error:
            refusal = error
        else:
            assert_works(schedule)
            return "saved"
        assert refusal.message_dict, "a ValidationError names its fields"
        return "refused"

    outcome, seconds = timed(lambda: in_savepoint(attempt))

    event(outcome)  # --hypothesis-show-statistics: how many draws were saved
    assert seconds < ALLOWED


@FUZZ_SETTINGS.__class__(FUZZ_SETTINGS, max_examples=40)
@given(fields=FORM_FIELDS)
def test_the_admin_form_answers_a_form_error_or_saves(fields: dict[str, str]) -> None:
    client = Client()

    def attempt() -> None:
        from django.contrib.auth.models import User

        client.force_login(User.objects.create_superuser("fuzz", password="x"))
        response = client.post(ADD_URL, form_data(**fields))
        assert response.status_code in (200, 302), response.status_code
        if response.status_code == 200:
            assert response.context["adminform"].form.errors or "_preview" in fields
            assert not Schedule.objects.exists()
        else:
            assert_works(Schedule.objects.get())
            assert client.get(LIST_URL).status_code == 200

    _, seconds = timed(lambda: in_savepoint(attempt))

    assert seconds < ALLOWED * 3  # the form computes a preview as well as the first fire time


@FUZZ_SETTINGS
@given(
    fmt=st.sampled_from(["json", "yaml"]),
    records=st.lists(
        st.fixed_dictionaries(
            {"name": st.text(min_size=1, max_size=10), "task": TASKS, "trigger": TRIGGER_SPECS},
            optional={"args": JSON_VALUES, "kwargs": JSON_VALUES, "timezone": st.text(max_size=12)},
        ),
        max_size=3,
    ),
)
def test_imported_files_are_imported_or_refused_with_a_command_error(
    fmt: str, records: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    try:
        text = json.dumps(records, allow_nan=False)
    except ValueError:
        reject()  # JSON files cannot hold NaN; the JSON decoder refuses them (a test of formats covers it)
    path = tmp_path_factory.mktemp("import") / f"schedules.{fmt}"
    path.write_text(text, encoding="utf-8")  # JSON is YAML too

    def attempt() -> None:
        try:
            call_command("beat_store_import", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115
        except CommandError:
            assert not Schedule.objects.exists()  # a failed import writes nothing
            return
        for schedule in Schedule.objects.all():
            assert_works(schedule)

    _, seconds = timed(lambda: in_savepoint(attempt))

    assert seconds < ALLOWED * max(1, len(records))


@FUZZ_SETTINGS
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_a_file_of_anything_is_imported_or_refused_with_a_command_error(
    text: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("import")
    for fmt in ("json", "yaml", "ini"):
        path = directory / f"schedules.{fmt}"
        path.write_text(text, encoding="utf-8")

        def attempt(path: Path = path) -> None:
            try:
                call_command("beat_store_import", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115
            except CommandError:
                assert not Schedule.objects.exists()

        in_savepoint(attempt)


def store_raw_row(columns: dict[str, Any], name: str) -> Schedule | None:
    """The row as another service would write it, or None when the database itself refuses the values."""
    try:
        with transaction.atomic():
            Schedule.objects.bulk_create([Schedule(name=name, task="tests.add", trigger_kind="cron", **columns)])
            Schedule.objects.filter(name=name).update(next_fire_at=timezone.now(), updated_at=timezone.now())
    except (DatabaseError, ValueError, TypeError, OverflowError):
        return None
    return Schedule.objects.get(name=name)


@FUZZ_SETTINGS.__class__(FUZZ_SETTINGS, max_examples=40)
@given(rows=st.lists(RAW_ROWS, min_size=1, max_size=3))
def test_raw_rows_never_stop_beat_from_planning_and_sending_a_healthy_schedule(
    rows: list[dict[str, Any]], admin_client: Client
) -> None:
    def attempt() -> None:
        healthy = add_schedule("healthy", "tests.add", {"type": "interval", "seconds": 1}, args=[1, 2])
        Schedule.objects.filter(pk=healthy.pk).update(next_fire_at=timezone.now(), updated_at=timezone.now())
        stored = [store_raw_row(row, f"raw-{index}") for index, row in enumerate(rows)]
        if not any(stored):
            return
        now = timezone.now()
        (_, planning_seconds) = timed(lambda: store.plan_new_schedules(now, limit=100))
        summary, due_seconds = timed(lambda: store.plan_due_schedules(now, limit=100, rng=random.Random(0)))
        dispatch.send_planned_runs(summary.ready, app=tests_app, now=now)
        pending = list(Execution.objects.filter(status=ExecutionStatus.PENDING).select_related("schedule"))
        dispatch.send_claimed_runs(pending, app=tests_app, now=now)

        assert Execution.objects.filter(schedule_name="healthy", status=ExecutionStatus.SENT).exists()
        assert planning_seconds < ALLOWED * len(rows)
        assert due_seconds < 2 * PLAN_BUDGET + ALLOWED
        assert admin_client.get(LIST_URL).status_code == 200
        for schedule in Schedule.objects.all():
            page = reverse("admin:beat_store_schedule_change", args=[schedule.pk])
            assert admin_client.get(page).status_code == 200
        call_command("beat_store_list", stdout=open("/dev/null", "w"))  # noqa: SIM115

    in_savepoint(attempt)


@pytest.mark.redis
@pytest.mark.timeout(240)
@FUZZ_SETTINGS.__class__(FUZZ_SETTINGS, max_examples=2)
@given(rows=st.lists(RAW_ROWS, min_size=8, max_size=8))
def test_a_real_beat_keeps_sending_a_healthy_schedule_whatever_rows_sit_beside_it(
    rows: list[dict[str, Any]], celery_processes_factory: Any
) -> None:
    Execution.objects.all().delete()
    Schedule.objects.all().delete()
    add_schedule("healthy", "tests.add", {"type": "interval", "seconds": 1}, args=[2, 2])
    for index, row in enumerate(rows):
        store_raw_row(row, f"raw-{index}")
    with celery_processes_factory() as processes:
        processes.start_worker()
        processes.start_beat()
        wait_until(
            lambda: Execution.objects.filter(schedule_name="healthy", status=ExecutionStatus.SUCCEEDED).count() >= 3,
            timeout=60,
            message="three runs of the healthy schedule beside the fuzzed rows",
        )
        assert all(process.poll() is None for _, process in processes.running), processes.logs()


@pytest.fixture
def celery_processes_factory(transactional_db: None, redis_url: str, tmp_path: Path) -> Any:
    """Fresh beat and worker processes per hypothesis example (a function-scoped fixture would be shared)."""
    from contextlib import contextmanager

    @contextmanager
    def factory() -> Any:
        log_dir = tmp_path / f"example-{time.monotonic_ns()}"
        log_dir.mkdir()
        processes = CeleryProcesses(log_dir=log_dir, broker_url=redis_url)
        try:
            yield processes
        finally:
            processes.stop_all()

    return factory
