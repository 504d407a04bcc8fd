"""The Python API of docs/spec.md and the schedule model's save rules, against the real database."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from beat_store import (
    ScheduleExists,
    ScheduleLookupError,
    add_schedule,
    pause_schedule,
    remove_schedule,
    resume_schedule,
    run_now,
)
from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.models import Execution, Schedule
from tests import celery_app  # the memory-broker app becomes current: run_now sends there

pytestmark = pytest.mark.django_db

EVERY_MINUTE = {"type": "cron", "expression": "* * * * *"}
HOURLY = {"type": "interval", "hours": 1}


def test_add_schedule_creates_a_code_schedule_with_its_first_fire_time() -> None:
    schedule = add_schedule("report", "tests.add", EVERY_MINUTE, args=[1, 2], kwargs={"x": 1}, queue="reports")

    assert schedule.source == ScheduleSource.CODE
    assert schedule.trigger_kind == "cron"
    assert schedule.next_fire_at is not None
    assert schedule.next_fire_at.second == 0
    assert Schedule.objects.get(name="report").queue == "reports"


@pytest.mark.parametrize(
    ("policy", "expected_task"),
    [("do_nothing", "tests.add"), ("replace", "tests.fail")],
    ids=["do nothing keeps the existing schedule", "replace updates it in place"],
)
def test_conflict_policies_for_an_existing_name(policy: str, expected_task: str) -> None:
    first = add_schedule("job", "tests.add", EVERY_MINUTE)

    again = add_schedule("job", "tests.fail", EVERY_MINUTE, conflict_policy=policy)  # type: ignore[arg-type]

    assert again.pk == first.pk
    assert Schedule.objects.get(name="job").task == expected_task


def test_conflict_policy_exception_raises_schedule_exists() -> None:
    add_schedule("job", "tests.add", EVERY_MINUTE)

    with pytest.raises(ScheduleExists, match="'job' already exists"):
        add_schedule("job", "tests.add", EVERY_MINUTE, conflict_policy="exception")


def test_replace_with_the_same_timing_keeps_the_next_fire_time() -> None:
    first = add_schedule("job", "tests.add", HOURLY)

    again = add_schedule("job", "tests.add", HOURLY, kwargs={"new": True}, conflict_policy="replace")

    assert again.next_fire_at == first.next_fire_at
    assert again.kwargs == {"new": True}


@pytest.mark.parametrize(
    ("trigger", "fields", "field"),
    [
        ({"type": "cron", "expression": "61 * * * *"}, {}, "trigger"),
        ({"type": "interval", "seconds": 0}, {}, "trigger"),
        ({"type": "weekly"}, {}, "trigger"),
        (EVERY_MINUTE, {"timezone": "Mars/Olympus"}, "timezone"),
        (EVERY_MINUTE, {"coalesce": "sometimes"}, "coalesce"),
        (EVERY_MINUTE, {"max_instances": 0}, "max_instances"),
        (EVERY_MINUTE, {"jitter": -1}, "jitter"),
        (EVERY_MINUTE, {"priority": 300}, "priority"),
        (EVERY_MINUTE, {"headers": ["not", "an", "object"]}, "headers"),
        (EVERY_MINUTE, {"metadata": ["not", "an", "object"]}, "metadata"),
        (EVERY_MINUTE, {"metadata": "owner=ops"}, "metadata"),
        (EVERY_MINUTE, {"metadata": {"ratio": float("nan")}}, "metadata"),
        (EVERY_MINUTE, {"metadata": {"note": "x" * 300_000}}, "metadata"),
    ],
    ids=[
        "a minute out of range",
        "a zero interval",
        "an unknown trigger type",
        "an unknown time zone",
        "an unknown coalesce policy",
        "max instances below one",
        "a negative jitter",
        "a priority above 255",
        "headers that are not an object",
        "metadata that is a list",
        "metadata that is text",
        "metadata holding NaN",
        "metadata over the JSON size limit",
    ],
)
def test_invalid_values_raise_a_validation_error_naming_the_field_and_write_nothing(
    trigger: dict[str, object], fields: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        add_schedule("bad", "tests.add", trigger, **fields)

    assert field in raised.value.message_dict
    assert not Schedule.objects.filter(name="bad").exists()


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="colour"):
        add_schedule("bad", "tests.add", EVERY_MINUTE, colour="blue")


def test_a_start_in_the_past_makes_past_fire_times_due_at_once() -> None:
    start = timezone.now() - timedelta(hours=3, minutes=30)

    schedule = add_schedule("backfill", "tests.add", HOURLY, start_at=start)

    assert schedule.next_fire_at == start


def test_editing_the_trigger_of_a_schedule_that_fired_counts_from_now() -> None:
    schedule = add_schedule("job", "tests.add", HOURLY, start_at=timezone.now() - timedelta(days=1))
    Schedule.objects.filter(pk=schedule.pk).update(last_fire_at=timezone.now() - timedelta(minutes=5))
    schedule.refresh_from_db()

    schedule.trigger = EVERY_MINUTE
    schedule.save()

    assert schedule.next_fire_at is not None
    assert schedule.next_fire_at >= timezone.now() - timedelta(seconds=1)


def test_saving_without_timing_changes_leaves_beats_state_alone() -> None:
    schedule = add_schedule("job", "tests.add", HOURLY)
    stale = Schedule.objects.get(pk=schedule.pk)
    advanced = timezone.now() + timedelta(days=3)
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=advanced)

    stale.description = "edited in a form opened before beat advanced the schedule"
    stale.save()

    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == advanced


def test_a_partly_loaded_schedule_saves_without_rescheduling() -> None:
    schedule = add_schedule("job", "tests.add", HOURLY)
    partial = Schedule.objects.only("name", "description").get(pk=schedule.pk)

    partial.description = "renamed"
    partial.save()

    assert Schedule.objects.get(pk=schedule.pk).next_fire_at == schedule.next_fire_at


def test_pause_then_resume_from_now_skips_what_was_missed() -> None:
    schedule = add_schedule("job", "tests.add", HOURLY, start_at=timezone.now() - timedelta(hours=5))

    pause_schedule("job")
    resumed = resume_schedule("job", resume_from="now")

    assert schedule.next_fire_at < timezone.now()
    assert resumed.next_fire_at is not None
    assert resumed.next_fire_at >= timezone.now() - timedelta(seconds=1)
    assert not resumed.paused


def test_resume_without_from_keeps_the_missed_fire_times_for_the_coalesce_policy() -> None:
    schedule = add_schedule("job", "tests.add", HOURLY, start_at=timezone.now() - timedelta(hours=5))
    pause_schedule("job")

    resumed = resume_schedule("job")

    assert resumed.next_fire_at == schedule.next_fire_at


JANUARY_FIRST = datetime(2026, 1, 1, tzinfo=dt_timezone.utc)


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        ({"start_at": datetime(2026, 1, 1, 9, 0)}, {"start_at": datetime(2026, 1, 1, 8, 0, tzinfo=dt_timezone.utc)}),
        ({"end_at": datetime(2026, 7, 1, 9, 0)}, {"end_at": datetime(2026, 7, 1, 7, 0, tzinfo=dt_timezone.utc)}),
        (
            {"start_at": datetime(2026, 10, 25, 2, 30, fold=1)},
            {"start_at": datetime(2026, 10, 25, 0, 30, tzinfo=dt_timezone.utc)},
        ),
    ],
    ids=[
        "a naive start is a wall time in the schedule's zone",
        "a naive end is too, with summer time",
        "a naive start in a DST fold is its first occurrence, whatever its fold",
    ],
)
def test_add_schedule_reads_naive_bounds_in_the_schedules_zone(
    bounds: dict[str, datetime], expected: dict[str, datetime]
) -> None:
    schedule = add_schedule("job", "tests.add", EVERY_MINUTE, timezone="Europe/Paris", **bounds)

    stored = Schedule.objects.get(pk=schedule.pk)
    assert {key: getattr(stored, key) for key in expected} == expected


@pytest.mark.parametrize("bound", ["start_at", "end_at"])
def test_add_schedule_refuses_a_naive_bound_in_a_dst_gap(bound: str) -> None:
    with pytest.raises(ValidationError) as caught:
        add_schedule("job", "tests.add", EVERY_MINUTE, timezone="Europe/Paris", **{bound: datetime(2026, 3, 29, 2, 30)})

    assert list(caught.value.message_dict) == [bound]
    assert "2026-03-29T02:30:00 does not exist in Europe/Paris" in caught.value.message_dict[bound][0]
    assert not Schedule.objects.exists()


def test_a_member_bound_in_a_dst_gap_is_a_validation_error_on_the_trigger() -> None:
    trigger = {"type": "or", "triggers": [{"type": "cron", "hour": "9", "start_at": "2026-03-29T02:30:00"}]}

    with pytest.raises(ValidationError) as caught:
        add_schedule("job", "tests.add", trigger, timezone="Europe/Paris")

    assert caught.value.message_dict["trigger"] == [
        "triggers.0.start_at: 2026-03-29T02:30:00 does not exist in Europe/Paris: the clocks go forward from 02:00 "
        "to 03:00 that day (DST gap); give a time outside the gap, or one with a UTC offset"
    ]
    assert not Schedule.objects.exists()


def test_a_naive_bound_set_on_the_model_is_a_validation_error_not_a_crash() -> None:
    schedule = Schedule(name="job", task="tests.add", trigger=EVERY_MINUTE, start_at=datetime(2026, 1, 1, 9, 0))

    with pytest.raises(ValidationError) as caught:
        schedule.full_clean()

    assert caught.value.message_dict["start_at"] == ["Must be timezone-aware (a date-time with a UTC offset)."]


def test_a_start_after_the_end_stays_an_error() -> None:
    with pytest.raises(ValidationError) as caught:
        add_schedule("job", "tests.add", EVERY_MINUTE, start_at=JANUARY_FIRST + timedelta(days=1), end_at=JANUARY_FIRST)

    assert caught.value.message_dict["end_at"] == ["The end must not come before the start."]


@pytest.mark.parametrize(
    ("resume_from", "expected"),
    [
        (datetime(2026, 3, 1, 10, 30, tzinfo=dt_timezone.utc), datetime(2026, 3, 1, 11, 0, tzinfo=dt_timezone.utc)),
        (datetime(2026, 3, 1, 11, 0, tzinfo=dt_timezone.utc), datetime(2026, 3, 1, 11, 0, tzinfo=dt_timezone.utc)),
        (
            datetime(2026, 3, 1, 11, 30, tzinfo=ZoneInfo("Europe/Paris")),
            datetime(2026, 3, 1, 11, 0, tzinfo=dt_timezone.utc),
        ),
    ],
    ids=[
        "fire times before the moment are skipped",
        "a fire time at the moment itself is kept",
        "an aware moment in another zone is the same instant",
    ],
)
def test_resume_from_a_datetime_fires_from_that_moment(resume_from: datetime, expected: datetime) -> None:
    add_schedule("job", "tests.add", HOURLY, start_at=JANUARY_FIRST)
    pause_schedule("job")

    resumed = resume_schedule("job", resume_from=resume_from)

    assert resumed.next_fire_at == expected
    assert not resumed.paused
    assert Schedule.objects.get(name="job").next_fire_at == expected


def test_resume_from_a_later_moment_waits_for_it() -> None:
    add_schedule("job", "tests.add", HOURLY, start_at=JANUARY_FIRST)
    pause_schedule("job")
    later = timezone.now() + timedelta(days=3)

    resumed = resume_schedule("job", resume_from=later)

    assert resumed.next_fire_at is not None
    assert later <= resumed.next_fire_at < later + timedelta(hours=1)


def test_resume_from_after_the_end_finishes_the_schedule_now() -> None:
    add_schedule("job", "tests.add", HOURLY, start_at=JANUARY_FIRST, end_at=JANUARY_FIRST + timedelta(days=1))
    pause_schedule("job")
    before = timezone.now()

    resumed = resume_schedule("job", resume_from=JANUARY_FIRST + timedelta(days=2))

    assert resumed.next_fire_at is None
    assert resumed.finished_at is not None
    assert before <= resumed.finished_at <= timezone.now()


@pytest.mark.parametrize(
    ("resume_from", "message"),
    [
        (datetime(2026, 3, 1, 10, 30), "must be an aware datetime: the naive 2026-03-01T10:30:00 names no instant"),
        ("later", "must be None, 'now' or an aware datetime, not 'later'"),
        ("2026-03-01T10:30:00+00:00", "must be None, 'now' or an aware datetime"),
        (date(2026, 3, 1), "must be None, 'now' or an aware datetime, not datetime.date(2026, 3, 1)"),
        (1700000000, "must be None, 'now' or an aware datetime, not 1700000000"),
    ],
    ids=[
        "a naive datetime is refused",
        "a word other than now is refused",
        "an ISO string is refused",
        "a date is refused",
        "a timestamp is refused",
    ],
)
def test_resume_from_refuses_what_names_no_instant_and_leaves_the_schedule_paused(
    resume_from: object, message: str
) -> None:
    add_schedule("job", "tests.add", HOURLY)
    pause_schedule("job")

    with pytest.raises(ValueError, match=re.escape(message)):
        resume_schedule("job", resume_from=resume_from)  # type: ignore[arg-type]

    assert Schedule.objects.get(name="job").paused


@pytest.mark.parametrize(
    "call",
    [pause_schedule, resume_schedule, remove_schedule, run_now],
    ids=["pause", "resume", "remove", "run now"],
)
def test_unknown_names_raise_schedule_lookup_error(call: object) -> None:
    with pytest.raises(ScheduleLookupError, match="No schedule named 'ghost'"):
        call("ghost")  # type: ignore[operator]


def test_remove_schedule_keeps_its_history() -> None:
    add_schedule("job", "tests.add", HOURLY)
    run_now("job")

    remove_schedule("job")

    kept = Execution.objects.get(schedule_name="job")
    assert kept.schedule is None


def test_run_now_sends_a_manual_run_with_overridden_kwargs() -> None:
    add_schedule("job", "tests.add", HOURLY, kwargs={"x": 1})

    execution = run_now("job", kwargs={"x": 2})

    assert execution.status == ExecutionStatus.SENT
    assert execution.manual
    assert execution.kwargs_override == {"x": 2}


def test_run_now_is_skipped_at_max_instances_and_says_why() -> None:
    add_schedule("job", "tests.add", HOURLY, max_instances=1)
    run_now("job")

    second = run_now("job")

    assert second.status == ExecutionStatus.SKIPPED
    assert "max" in second.result


def test_declared_schedules_read_naive_bounds_in_their_zone_and_refuse_a_dst_gap(settings: Any) -> None:
    from beat_store.declared import sync_declared_schedules

    settings.BEAT_STORE_SCHEDULES = {
        "paris mornings": {
            "task": "tests.add",
            "trigger": {"type": "cron", "hour": "9"},
            "timezone": "Europe/Paris",
            "start_at": datetime(2026, 1, 1, 9, 0),
        },
        "in the gap": {
            "task": "tests.add",
            "trigger": {"type": "cron", "hour": "9"},
            "timezone": "Europe/Paris",
            "start_at": datetime(2026, 3, 29, 2, 30),
        },
    }

    report = sync_declared_schedules(celery_app.app)

    assert Schedule.objects.get(name="paris mornings").start_at == datetime(2026, 1, 1, 8, 0, tzinfo=dt_timezone.utc)
    assert report.refused["in the gap"].startswith("start_at: 2026-03-29T02:30:00 does not exist in Europe/Paris")
    assert not Schedule.objects.filter(name="in the gap").exists()


# --- metadata ------------------------------------------------------------------------------------------------


def test_add_schedule_stores_metadata_as_given() -> None:
    metadata = {"owner": "équipe ops", "ticket": 42, "tags": ["billing"], "nested": {"on_call": None}}

    add_schedule("job", "tests.add", HOURLY, metadata=metadata)

    assert Schedule.objects.get(name="job").metadata == metadata


def test_a_schedule_without_metadata_has_an_empty_object() -> None:
    assert add_schedule("job", "tests.add", HOURLY).metadata == {}


def test_editing_only_metadata_leaves_the_next_fire_time_alone() -> None:
    schedule = add_schedule("job", "tests.add", HOURLY)
    stale = Schedule.objects.get(pk=schedule.pk)
    advanced = timezone.now() + timedelta(days=3)
    Schedule.objects.filter(pk=schedule.pk).update(next_fire_at=advanced)

    stale.metadata = {"owner": "ops"}
    stale.full_clean()
    stale.save()
    Schedule.objects.filter(pk=schedule.pk).update(metadata={"owner": "written around save()"})

    saved = Schedule.objects.get(pk=schedule.pk)
    assert saved.next_fire_at == advanced
    assert saved.metadata == {"owner": "written around save()"}


def test_replacing_with_new_metadata_only_keeps_the_next_fire_time() -> None:
    first = add_schedule("job", "tests.add", HOURLY, metadata={"owner": "ops"})

    replaced = add_schedule("job", "tests.add", HOURLY, metadata={"owner": "dev"}, conflict_policy="replace")

    assert replaced.metadata == {"owner": "dev"}
    assert Schedule.objects.get(name="job").next_fire_at == first.next_fire_at


def test_declared_schedules_may_carry_metadata(settings: Any) -> None:
    from beat_store.declared import sync_declared_schedules

    settings.BEAT_STORE_SCHEDULES = {
        "nightly": {"task": "tests.add", "trigger": HOURLY, "metadata": {"owner": "ops"}},
        "bad metadata": {"task": "tests.add", "trigger": HOURLY, "metadata": ["ops"]},
    }

    report = sync_declared_schedules(celery_app.app)

    assert Schedule.objects.get(name="nightly").metadata == {"owner": "ops"}
    assert report.refused["bad metadata"].startswith("metadata: Metadata must be a JSON object")
