"""The limits of docs/spec.md "Limits": time budgets of fire-time computations, value limits, and the readers of
files and redbeat entries that must refuse hostile input instead of expanding or crashing on it."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from beat_store.exceptions import TriggerGaveUp, TriggerTooSlow
from beat_store.forms.preview import preview_fire_times
from beat_store.limits import (
    LimitExceeded,
    check_json_value,
    check_moment,
    check_seconds,
    keep_tail,
    reserved_header,
)
from beat_store.pruning import parse_age
from beat_store.transfer.formats import TransferFormatError, load_records
from beat_store.transfer.redbeat import Unmappable, draft_from_entry
from beat_store.triggers import build_trigger, next_fire_times
from beat_store.triggers.budget import check_budget, time_budget

UTC = timezone.utc
JANUARY = datetime(2026, 1, 1, tzinfo=UTC)
WEEK_53_AND = {
    "type": "and",
    "triggers": [{"type": "cron", "week": "53", "hour": "1"}, {"type": "cron", "week": "53", "hour": "2"}],
}


# --- time budgets ----------------------------------------------------------------------------------------------


def test_a_trigger_too_costly_to_evaluate_raises_trigger_too_slow_within_its_budget(settings: Any) -> None:
    settings.BEAT_STORE_TRIGGER_TIME_BUDGET = 0.1
    trigger = build_trigger(WEEK_53_AND, timezone="UTC", anchor=JANUARY)

    started = time.monotonic()
    with pytest.raises(TriggerTooSlow, match=r"took more than 0\.1 s") as raised:
        trigger.next_at_or_after(JANUARY)

    assert time.monotonic() - started < 0.5
    assert isinstance(raised.value, TriggerGaveUp)  # callers that handle giving up handle this too


def test_an_inner_budget_never_extends_an_outer_one() -> None:
    with time_budget(0.05), time_budget(60):
        time.sleep(0.06)
        with pytest.raises(TriggerTooSlow, match=r"0\.05 s"):
            check_budget()


def test_no_budget_means_no_deadline() -> None:
    check_budget()  # outside any budget: free, never raises


def test_each_fire_time_of_next_fire_times_has_its_own_budget(settings: Any) -> None:
    settings.BEAT_STORE_TRIGGER_TIME_BUDGET = 0.2
    every_hour = {"type": "cron", "minute": "0"}

    assert len(next_fire_times(every_hour, timezone="UTC", after=JANUARY, count=500)) == 500


def test_the_preview_shows_the_fire_times_found_within_its_budget_and_says_so(settings: Any) -> None:
    settings.BEAT_STORE_PLAN_TIME_BUDGET = 0.3
    spec = {"type": "interval", "hours": 1}

    preview = preview_fire_times(SlowAfterThree(), spec, zone=UTC, zone_name="UTC", now=JANUARY)

    assert preview.error is None
    assert len(preview.fire_times) == 3
    assert preview.warnings == [
        "Only 3 fire time(s) shown: finding more took longer than 0.3 s, beat's time budget for one schedule; "
        "beat may pause it."
    ]


def test_the_preview_of_a_trigger_with_no_fire_time_within_budget_is_an_error(settings: Any) -> None:
    settings.BEAT_STORE_TRIGGER_TIME_BUDGET = 0.1
    trigger = build_trigger(WEEK_53_AND, timezone="UTC", anchor=JANUARY)

    preview = preview_fire_times(trigger, WEEK_53_AND, zone=UTC, zone_name="UTC", now=JANUARY)

    assert preview.fire_times == []
    assert preview.error is not None
    assert preview.error.startswith("Computing the next fire time took more than 0.1 s (the time budget)")


class SlowAfterThree:
    """Hourly fire times; from the fourth on, each search spins until the budget stops it."""

    def __init__(self) -> None:
        self.calls = 0

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        self.calls += 1
        while self.calls > 3:
            check_budget()
        return moment + timedelta(hours=1)


# --- value limits ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([math.nan], "nan is not a JSON number"),
        ({"a": [math.inf]}, "inf is not a JSON number"),
        ([2**63], "64-bit range"),
        ({1: "x"}, "keys must be strings"),
        ([{1, 2}], "set is not a JSON value"),
        (json.loads("[" * 33 + "]" * 33), "nested more than 32 levels"),
        (["x" * 300_000], "bytes once encoded"),
    ],
)
def test_json_values_past_the_limits_are_refused(value: object, message: str) -> None:
    with pytest.raises(LimitExceeded, match=message):
        check_json_value(value)


def test_a_json_value_nested_a_million_deep_is_refused_without_recursion() -> None:
    value: list[Any] = []
    for _ in range(1_000_000):
        value = [value]

    with pytest.raises(LimitExceeded, match="nested"):
        check_json_value(value)


def test_json_values_within_the_limits_pass() -> None:
    check_json_value({"ids": list(range(1000)), "deep": json.loads("[" * 31 + "]" * 31), "n": -(2**63)})


@pytest.mark.parametrize("seconds", [math.inf, -math.inf, math.nan, 1e300, 10 * 366 * 86_400 + 1])
def test_seconds_past_the_limits_are_refused(seconds: float) -> None:
    with pytest.raises(LimitExceeded):
        check_seconds(seconds)


@pytest.mark.parametrize(
    "moment",
    [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59), datetime(1899, 12, 31, tzinfo=UTC), datetime.max],
)
def test_moments_outside_the_supported_range_are_refused(moment: datetime) -> None:
    with pytest.raises(LimitExceeded, match="outside the supported range"):
        check_moment(moment)


def test_moments_within_the_range_pass() -> None:
    check_moment(datetime(1900, 1, 1, tzinfo=UTC))
    check_moment(datetime(9998, 12, 30, tzinfo=timezone(timedelta(hours=14))))


@pytest.mark.parametrize(
    ("name", "reserved"),
    [("id", True), ("task", True), ("eta", True), ("timelimit", True), ("beat_store_fire_time", True), ("team", False)],
)
def test_reserved_headers_are_celerys_own_and_beat_stores(name: str, reserved: bool) -> None:
    assert reserved_header(name) is reserved


def test_a_long_text_keeps_its_end() -> None:
    assert keep_tail("abcdef", limit=3) == "[… 3 characters cut]\ndef"
    assert keep_tail("abc", limit=3) == "abc"


@pytest.mark.parametrize("age", ["999999w", "36526d", "9999999999999d"])
def test_prune_ages_past_a_century_are_refused(age: str) -> None:
    with pytest.raises(ValueError, match="too long an age"):
        parse_age(age)


# --- readers of files and redbeat entries ----------------------------------------------------------------------

BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_a_yaml_billion_laughs_is_refused_at_its_first_alias_in_no_time() -> None:
    started = time.monotonic()

    with pytest.raises(TransferFormatError, match=r"aliases \(\*name\) are not accepted") as raised:
        load_records(BILLION_LAUGHS, "yaml")

    assert time.monotonic() - started < 1
    assert "line 2" in str(raised.value)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_file_nested_too_deep_is_a_format_error(fmt: str) -> None:
    with pytest.raises(TransferFormatError, match=r"nested too deep|not valid"):
        load_records("[" * 100_000 + "]" * 100_000, fmt)


@pytest.mark.parametrize(
    "definition",
    [
        {"task": "t", "args": 5, "schedule": {"__type__": "interval", "every": 5}},
        {"task": "t", "kwargs": [1], "schedule": {"__type__": "interval", "every": 5}},
        {"task": "t", "schedule": {"__type__": "interval"}},
        {"task": "t", "schedule": {"__type__": "interval", "every": "soon"}},
        {"task": "t", "schedule": {"__type__": "crontab", "minute": ["x"]}},
        {"task": "t", "schedule": {"__type__": "rrule", "freq": "DAILY", "interval": "x", "dtstart": 0}},
        {"task": "t", "schedule": {"__type__": "rrule", "freq": "DAILY", "dtstart": 1e300}},
        {"task": "t", "schedule": {"__type__": "interval", "every": 5}, "options": ["queue"]},
        {"task": ["t"], "schedule": 5},
    ],
)
def test_malformed_redbeat_entries_are_unmappable_not_a_crash(definition: dict[str, Any]) -> None:
    with pytest.raises(Unmappable):
        draft_from_entry("redbeat:job", json.dumps(definition), json.dumps({"last_run_at": "yesterday"}))
