"""Properties of the trigger maths over generated specs, zones and moments (hypothesis)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beat_store.exceptions import InvalidTrigger, TriggerGaveUp
from beat_store.triggers import Trigger, build_trigger, validate_trigger_spec

UTC = timezone.utc
STEP = timedelta(microseconds=1)
# Few examples, no deadline: the module runs in a few seconds, and a slow first zoneinfo load is fine.
quick = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONE_NAMES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
]
TRIGGER_TYPES = ["date", "interval", "cron", "calendarinterval", "or", "and"]
KNOWN_FIELDS = [
    "run_at", "weeks", "days", "hours", "minutes", "seconds", "expression", "year", "month", "day", "week",
    "day_of_week", "hour", "minute", "second", "years", "months", "triggers",
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
near_valid_specs = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(TRIGGER_TYPES),
    st.dictionaries(
        st.sampled_from(KNOWN_FIELDS),
        json_values
        | st.integers(min_value=-2, max_value=70)
        | st.sampled_from(["*", "*/5", "1-5", "mon-fri", "last", "0 9 * * 1-5", "2026-12-01T09:00:00", "x"]),
        max_size=4,
    ),
)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))

interval_specs = st.fixed_dictionaries(
    {"type": st.just("interval")},
    optional={
        "weeks": st.integers(0, 2),
        "days": st.integers(0, 3),
        "hours": st.integers(0, 30),
        "minutes": st.integers(0, 90),
        "seconds": st.integers(0, 90) | st.floats(0, 90, allow_nan=False),
    },
).filter(lambda spec: sum(value for key, value in spec.items() if key != "type") >= 0.001)
cron_field_specs = st.fixed_dictionaries(
    {"type": st.just("cron")},
    optional={
        "month": st.sampled_from(["*", "2", "3,10", "*/4", "nov"]),
        "day": st.sampled_from(["*", "1", "15", "last", "29", "31", "1st sun"]),
        "day_of_week": st.sampled_from(["*", "mon-fri", "sun", "0", "7", "1-5", "sat,sun", "sat-mon"]),
        "hour": st.sampled_from(["*", "0", "1", "2", "1-3", "*/5", "9"]),
        "minute": st.sampled_from(["*", "0", "*/7", "15,45", "30"]),
        "second": st.sampled_from(["0", "*/15", "30"]),
    },
).filter(lambda spec: len(spec) > 1)
crontab_specs = st.builds(
    lambda minute, hour, day, month, weekday: {
        "type": "cron",
        "expression": f"{minute} {hour} {day} {month} {weekday}",
    },
    st.sampled_from(["*", "0", "*/15", "30", "5,35"]),
    st.sampled_from(["*", "2", "0-3", "*/6", "1"]),
    st.sampled_from(["*", "1", "31", "10-20"]),
    st.sampled_from(["*", "2", "mar,oct", "*/3"]),
    st.sampled_from(["*", "0", "7", "1-5", "sat,sun", "*/2"]),
)
calendar_specs = st.fixed_dictionaries(
    {
        "type": st.just("calendarinterval"),
        "years": st.integers(0, 1),
        "months": st.integers(0, 13),
        "weeks": st.integers(0, 2),
        "days": st.integers(0, 10),
        "hour": st.integers(0, 23),
        "minute": st.sampled_from([0, 15, 30, 59]),
    }
).filter(lambda spec: spec["years"] or spec["months"] or spec["weeks"] or spec["days"])
simple_specs = interval_specs | cron_field_specs | crontab_specs | calendar_specs
member_specs = simple_specs | st.builds(
    lambda spec, zone: {**spec, "timezone": zone}, simple_specs, st.sampled_from(ZONE_NAMES)
)
# Members that never agree would each cost 10,000 tries; giving up sooner is the same outcome, faster.
valid_specs = simple_specs | st.builds(
    lambda kind, members, threshold: {
        "type": kind,
        "triggers": members,
        **({"threshold": threshold, "max_iterations": 100} if kind == "and" else {}),
    },
    st.sampled_from(["or", "and"]),
    st.lists(member_specs, min_size=1, max_size=3),
    st.sampled_from([0, 1, 2.5, 60]),
)


@quick
@given(spec=json_values | near_valid_specs, zone=st.sampled_from(ZONE_NAMES), anchor=moments)
def test_any_json_builds_a_trigger_or_is_refused_as_invalid(spec: Any, zone: str, anchor: datetime) -> None:
    outcome = build_or_refuse(spec, zone, anchor)

    if isinstance(outcome, InvalidTrigger):
        assert outcome.reason
    else:
        assert callable(outcome.next_at_or_after)


def build_or_refuse(spec: Any, zone: str, anchor: datetime) -> Trigger | InvalidTrigger:
    """Any other exception escapes and fails the test."""
    try:
        return build_trigger(spec, timezone=zone, anchor=anchor)
    except InvalidTrigger as error:
        return error


@quick
@given(spec=valid_specs)
def test_a_normalised_spec_normalises_to_itself(spec: dict[str, Any]) -> None:
    normalised = validate_trigger_spec(spec)

    assert validate_trigger_spec(normalised) == normalised


@quick
@given(spec=valid_specs, zone=st.sampled_from(ZONE_NAMES), anchor=moments, moment=moments)
def test_fire_times_strictly_increase(spec: dict[str, Any], zone: str, anchor: datetime, moment: datetime) -> None:
    trigger = build_trigger(spec, timezone=zone, anchor=anchor)
    fire_times: list[datetime] = []

    try:
        fire_time = trigger.next_at_or_after(moment)
        while fire_time is not None and len(fire_times) < 20:
            fire_times.append(fire_time)
            fire_time = trigger.next_at_or_after(fire_time.astimezone(UTC) + STEP)
    except TriggerGaveUp:
        assert spec["type"] == "and"

    in_utc = [fire_time.astimezone(UTC) for fire_time in fire_times]
    assert all(earlier < later for earlier, later in itertools.pairwise(in_utc))
    assert all(fire_time >= moment for fire_time in in_utc[:1])
    assert all(fire_time.tzinfo == ZoneInfo(zone) for fire_time in fire_times)


@quick
@given(spec=interval_specs, zone=st.sampled_from(ZONE_NAMES), anchor=moments, moment=moments)
def test_interval_fire_times_are_one_period_apart_in_elapsed_time(
    spec: dict[str, Any], zone: str, anchor: datetime, moment: datetime
) -> None:
    trigger = build_trigger(spec, timezone=zone, anchor=anchor)
    period = timedelta(**{unit: value for unit, value in spec.items() if unit != "type"})

    first = trigger.next_at_or_after(moment)
    assert first is not None
    second = trigger.next_at_or_after(first + STEP)
    assert second is not None

    assert second.astimezone(UTC) - first.astimezone(UTC) == period
    assert (first.astimezone(UTC) - anchor) % period == timedelta(0)
    assert first.astimezone(UTC) - max(moment, anchor) < period


# beat_store reads weekday numbers as crontab and APScheduler 4 do (0 = Sunday); the APScheduler 3 reference
# gets the same days by name (it reads 0 as Monday and refuses ranges that wrap past Sunday).
APSCHEDULER3_DAYS = {"0": "sun", "7": "sun", "1-5": "mon-fri", "sat-mon": "mon,sat,sun"}

# APScheduler walks impossible patterns (February 31st) all the way to year 9999: keep to possible ones.
possible_cron_specs = cron_field_specs.filter(
    lambda spec: spec.get("day") not in ("31", "1st sun") and spec.get("month") != "2"
)


@quick
@given(spec=possible_cron_specs, moment=moments)
def test_cron_agrees_with_apscheduler_where_there_is_no_dst(spec: dict[str, Any], moment: datetime) -> None:
    values = {name: value for name, value in spec.items() if name != "type"}
    if "day_of_week" in values:
        values["day_of_week"] = APSCHEDULER3_DAYS.get(values["day_of_week"], values["day_of_week"])
    reference = APSCronTrigger(**values, timezone=UTC)
    trigger = build_trigger(spec, timezone="UTC", anchor=moment)

    fire_time = trigger.next_at_or_after(moment)

    assert fire_time == reference.get_next_fire_time(None, moment)
