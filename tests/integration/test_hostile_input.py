"""Careless and hostile input against the database: the API, the admin, rows written around validation, sending,
imports and permissions (docs/spec.md "Limits"). The same with real beat processes: test_hostile_beat.py."""

from __future__ import annotations

import json
import math
import random
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from beat_store import add_schedule, executions, store
from beat_store.enums import ExecutionStatus
from beat_store.limits import MAX_TRACEBACK_LENGTH
from beat_store.models import Execution, Schedule
from beat_store.sending import dispatch
from tests.celery_app import app as tests_app
from tests.integration.test_admin import ADD_URL, LIST_URL, form_data

pytestmark = pytest.mark.django_db

UTC = dt_timezone.utc
EVERY_MINUTE = {"type": "cron", "expression": "* * * * *"}
WEEK_53_AND = {
    "type": "and",
    "triggers": [{"type": "cron", "week": "53", "hour": "1"}, {"type": "cron", "week": "53", "hour": "2"}],
}
FAR = datetime(9999, 12, 31, 23, 0, tzinfo=UTC)
EARLY = datetime(1, 1, 1, 1, 0, tzinfo=UTC)


def refuses_non_finite(columns: dict[str, Any]) -> None:
    """MariaDB and MySQL cannot store NaN or infinity at all: nothing to guard against there."""
    non_finite = any(isinstance(value, float) and not math.isfinite(value) for value in columns.values())
    if non_finite and connection.vendor == "mysql":
        pytest.skip("MariaDB/MySQL refuse NaN and infinity themselves: no such row can exist")


def nested_list(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


# --- add_schedule: a ValidationError naming the field, nothing written -----------------------------------------

API_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "an and of week-53 crons": ({"trigger": WEEK_53_AND}, "trigger"),
    "a zone naming a tzdata folder": ({"timezone": "Europe"}, "timezone"),
    "NaN in args": ({"args": [math.nan]}, "args"),
    "infinity in kwargs": ({"kwargs": {"a": math.inf}}, "kwargs"),
    "NaN in headers": ({"headers": {"a": math.nan}}, "headers"),
    "args nested 100,000 deep": ({"args": nested_list(100_000)}, "args"),
    "args of a megabyte": ({"args": ["x" * 1_000_000]}, "args"),
    "a 5,000-digit cron number": ({"trigger": {"type": "cron", "minute": "1" * 5000}}, "trigger"),
    "a 5,000-digit integer cron field": ({"trigger": {"type": "cron", "minute": 10**5000}}, "trigger"),
    "a 200k-item cron field": ({"trigger": {"type": "cron", "minute": ",".join(["1"] * 200_000)}}, "trigger"),
    "a date near year 1": ({"trigger": {"type": "date", "run_at": "0001-01-01T00:00:00"}}, "trigger"),
    "a date near 9999": ({"trigger": {"type": "date", "run_at": "9999-12-31T23:59:59"}}, "trigger"),
    "a start near 9999": ({"start_at": FAR}, "start_at"),
    "an end near year 1": ({"end_at": EARLY}, "end_at"),
    "jitter=inf": ({"jitter": math.inf}, "jitter"),
    "misfire_grace_time=NaN": ({"misfire_grace_time": math.nan}, "misfire_grace_time"),
    "misfire_grace_time=1e300": ({"misfire_grace_time": 1e300}, "misfire_grace_time"),
    "expires=inf": ({"expires": math.inf}, "expires"),
    "expires=1e300": ({"expires": 1e300}, "expires"),
    "Celery's id header": ({"headers": {"id": "someone-elses"}}, "headers"),
    "Celery's task header": ({"headers": {"task": "tests.fail"}}, "headers"),
    "beat_store's execution header": ({"headers": {"beat_store_execution": "1"}}, "headers"),
    "a NUL in the task name": ({"task": "tests.add\x00"}, "task"),
    "an or of 21 members": ({"trigger": {"type": "or", "triggers": [EVERY_MINUTE] * 21}}, "trigger"),
    "a trigger tree of 101 specs": (
        {"trigger": {"type": "or", "triggers": [{"type": "or", "triggers": [EVERY_MINUTE] * 10}] * 10}},
        "trigger",
    ),
}


@pytest.mark.parametrize(("values", "field"), API_CASES.values(), ids=API_CASES.keys())
def test_add_schedule_refuses_bad_input_with_a_validation_error_naming_the_field(
    values: dict[str, Any], field: str
) -> None:
    values = dict(values)
    task = values.pop("task", "tests.add")
    trigger = values.pop("trigger", EVERY_MINUTE)

    with pytest.raises(ValidationError) as raised:
        add_schedule("bad", task, trigger, **values)

    assert list(raised.value.message_dict) == [field]
    assert not Schedule.objects.exists()


def test_a_cron_field_of_the_longest_real_length_is_accepted() -> None:
    every_second_listed = ",".join(str(second) for second in range(60))

    schedule = add_schedule("every second", "tests.add", {"type": "cron", "second": every_second_listed})

    assert schedule.next_fire_at is not None


# --- the admin: a form error, never a 500 ------------------------------------------------------------------------

ADMIN_CASES: dict[str, dict[str, str]] = {
    "a zone naming a tzdata folder": {"timezone": "Europe"},
    "NaN in args": {"args": "[NaN]"},
    "Infinity in kwargs": {"kwargs": '{"a": Infinity}'},
    "NaN in headers": {"headers": '{"a": NaN}'},
    "JSON nested 100,000 deep": {"args": "[" * 100_000 + "]" * 100_000},
    "a 5,000-digit crontab number": {"trigger-cron_expression": "1" * 5000 + " * * * *"},
    "a 5,000-digit cron field": {"trigger-cron_expression": "", "trigger-cron_minute": "1" * 5000},
    "a 200k-item cron field": {"trigger-cron_expression": "", "trigger-cron_minute": ",".join(["1"] * 200_000)},
    "a date near year 1": {"trigger-kind": "date", "trigger-date_run_at": "0001-01-01 00:00"},
    "a date near 9999": {"trigger-kind": "date", "trigger-date_run_at": "9999-12-31 23:59"},
    "a start near 9999": {"start_at_0": "9999-12-31", "start_at_1": "23:59:59"},
    "an end near year 1": {"end_at_0": "0001-01-01", "end_at_1": "00:00:00"},
    "misfire grace time 1e300": {"misfire_grace_time": "1e300"},
    "jitter inf": {"jitter": "inf"},
    "Celery's id header": {"headers": '{"id": "x"}'},
    "a spec too costly to evaluate": {"trigger-kind": "spec", "trigger-spec_json": json.dumps(WEEK_53_AND)},
    "a spec nested 10,000 deep": {"trigger-kind": "spec", "trigger-spec_json": "[" * 10_000 + "]" * 10_000},
    "100,000 trigger members": {
        "trigger-kind": "or",
        "trigger_members-TOTAL_FORMS": "100000",
        "trigger_members-0-kind": "cron",
        "trigger_members-0-cron_hour": "9",
    },
    "a NUL in the name": {"name": "a\x00b"},
}


@pytest.mark.parametrize("fields", ADMIN_CASES.values(), ids=ADMIN_CASES.keys())
def test_the_admin_answers_bad_input_with_a_form_error(admin_client: Client, fields: dict[str, str]) -> None:
    tests_app.set_current()

    response = admin_client.post(ADD_URL, form_data(**fields))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not Schedule.objects.exists()


# --- rows written around validation: the pages and commands still answer -----------------------------------------

ROW_CASES: dict[str, dict[str, Any]] = {
    "a zone naming a tzdata folder": {"timezone": "Europe"},
    "an unknown zone": {"timezone": "Not/AZone"},
    "a start near 9999": {"start_at": FAR},
    "an end near year 1": {"end_at": EARLY},
    "a date near 9999": {"trigger": {"type": "date", "run_at": "9999-12-31T23:59:59"}},
    "NaN grace time": {"misfire_grace_time": math.nan},
    "infinite jitter": {"jitter": math.inf},
    "args that are an object": {"args": {"a": 1}},
    "a trigger of unknown type": {"trigger": {"type": "nope"}},
    "a trigger that is a string": {"trigger": "x"},
    "a trigger too costly to evaluate": {"trigger": WEEK_53_AND},
}


@pytest.mark.parametrize("site_zone", ["UTC", "Pacific/Kiritimati"])
@pytest.mark.parametrize("columns", ROW_CASES.values(), ids=ROW_CASES.keys())
def test_a_row_written_around_validation_never_breaks_the_list_its_page_or_the_list_command(
    admin_client: Client, settings: Any, columns: dict[str, Any], site_zone: str
) -> None:
    settings.TIME_ZONE = site_zone
    values = {"task": "tests.add", "trigger": EVERY_MINUTE, "trigger_kind": "cron", **columns}
    refuses_non_finite(columns)
    Schedule.objects.bulk_create([Schedule(name="raw", **values)])
    Schedule.objects.update(next_fire_at=FAR, last_fire_at=EARLY)
    schedule = Schedule.objects.get()

    assert admin_client.get(LIST_URL).status_code == 200
    assert admin_client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).status_code == 200
    call_command("beat_store_list")


# --- beat: one schedule never stalls the others ----------------------------------------------------------------


def test_a_schedule_too_costly_to_plan_is_paused_and_the_rest_of_its_batch_is_planned() -> None:
    costly = add_schedule("costly", "tests.add", {"type": "interval", "seconds": 60})
    healthy = add_schedule("healthy", "tests.add", {"type": "interval", "seconds": 60})
    # Written around validation, keeping its next fire time (updated_at: see migration 0007's trigger).
    Schedule.objects.filter(pk=costly.pk).update(trigger=WEEK_53_AND, trigger_kind="and", updated_at=timezone.now())
    now = max(costly.next_fire_at, healthy.next_fire_at) + timedelta(seconds=1)  # type: ignore[type-var]

    summary = store.plan_due_schedules(now, limit=10, rng=random.Random(1))

    costly.refresh_from_db()
    assert costly.paused
    assert costly.last_error.startswith("TriggerTooSlow")
    assert summary.recorded == 1
    assert Execution.objects.get().schedule_name == "healthy"


def test_a_batch_of_costly_schedules_stops_early_and_leaves_the_rest_due(settings: Any) -> None:
    settings.BEAT_STORE_PLAN_TIME_BUDGET = 0.2
    settings.BEAT_STORE_TRIGGER_TIME_BUDGET = 0.2
    for index in range(4):
        schedule = add_schedule(f"costly-{index}", "tests.add", {"type": "interval", "seconds": 60})
        Schedule.objects.filter(pk=schedule.pk).update(
            trigger=WEEK_53_AND, trigger_kind="and", next_fire_at=timezone.now(), updated_at=timezone.now()
        )

    summary = store.plan_due_schedules(timezone.now(), limit=10, rng=random.Random(1))

    # Each costs its 0.2 s budget; the batch gives up after twice the budget, so two or three are paused.
    assert 2 <= summary.claimed <= 3
    assert Schedule.objects.filter(paused=True).count() == summary.claimed
    assert store.plan_due_schedules(timezone.now(), limit=10, rng=random.Random(1)).claimed >= 1


def pending_runs(*names: str) -> list[Execution]:
    runs = []
    for name in names:
        schedule = add_schedule(name, "tests.add", {"type": "interval", "hours": 1}, args=[1, 2])
        runs.append(
            Execution.objects.create(
                schedule=schedule,
                schedule_name=name,
                task="tests.add",
                fire_time=timezone.now(),
                send_at=timezone.now(),
                task_id=f"{name}-task",
            )
        )
    return runs


@pytest.mark.parametrize(
    "columns",
    [{"args": {"a": 1}}, {"args": "abc"}, {"kwargs": [1]}, {"expires": 1e300}, {"expires": math.inf}],
    ids=["args an object", "args a string", "kwargs a list", "expires 1e300", "expires inf"],
)
def test_a_run_whose_message_cannot_be_built_fails_alone(columns: dict[str, Any]) -> None:
    refuses_non_finite(columns)
    _, bad, _ = pending_runs("first", "bad", "last")
    Schedule.objects.filter(name="bad").update(**columns)
    runs = list(Execution.objects.select_related("schedule").order_by("id"))

    sent = dispatch.send_claimed_runs(runs, app=tests_app, now=timezone.now())

    assert sent == 2
    statuses = dict(Execution.objects.values_list("schedule_name", "status"))
    assert statuses == {"first": ExecutionStatus.SENT, "bad": ExecutionStatus.FAILED, "last": ExecutionStatus.SENT}
    bad.refresh_from_db()
    assert bad.exception.startswith("beat could not build its message: UnbuildableMessage: ")
    assert Schedule.objects.get(name="bad").paused
    assert not Schedule.objects.get(name="first").paused


def test_a_manual_run_that_cannot_be_built_fails_without_pausing_its_schedule() -> None:
    (run,) = pending_runs("manual")
    Execution.objects.filter(pk=run.pk).update(manual=True, kwargs_override=["not", "an", "object"])

    dispatch.send_claimed_runs(list(Execution.objects.select_related("schedule")), app=tests_app, now=timezone.now())

    assert Execution.objects.get().status == ExecutionStatus.FAILED
    assert not Schedule.objects.get().paused


# --- smaller findings -------------------------------------------------------------------------------------------


def test_duplicate_needs_the_add_permission(client: Client) -> None:
    schedule = add_schedule("original", "tests.add", EVERY_MINUTE)
    user = User.objects.create_user("editor", password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_schedule", "change_schedule"]))
    client.force_login(user)

    page = client.get(reverse("admin:beat_store_schedule_change", args=[schedule.pk])).content.decode()
    listing = client.get(LIST_URL).content.decode()
    tool = client.post(reverse("admin:beat_store_schedule_duplicate", args=[schedule.pk]))
    client.post(LIST_URL, {"action": "duplicate_action", "_selected_action": [schedule.pk]})

    assert ">Duplicate<" not in page
    assert 'value="duplicate_action"' not in listing
    assert 'value="pause_action"' in listing
    assert tool.status_code == 403
    assert list(Schedule.objects.values_list("name", flat=True)) == ["original"]


def test_a_huge_traceback_is_cut_to_its_end() -> None:
    (run,) = pending_runs("fails")
    Execution.objects.filter(pk=run.pk).update(status=ExecutionStatus.STARTED)
    traceback = "x" * 5_000_000 + "\nValueError: the actual error"

    executions.mark_failed(run.task_id, exception=ValueError("the actual error"), traceback=traceback)

    stored = Execution.objects.get().traceback
    assert len(stored) < MAX_TRACEBACK_LENGTH + 100
    assert stored.endswith("ValueError: the actual error")
    assert stored.startswith("[… 4,980,029 characters cut]")


def test_a_prune_age_past_a_century_is_a_form_error_and_a_command_error(admin_client: Client) -> None:
    response = admin_client.post(reverse("admin:beat_store_execution_prune"), {"older_than": "999999w"})

    assert response.status_code == 200
    assert "too long an age" in response.content.decode()
    with pytest.raises(Exception, match="too long an age"):
        call_command("beat_store_prune", "--older-than", "999999w")
