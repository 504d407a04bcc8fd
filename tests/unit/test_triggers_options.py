"""APScheduler 4's trigger options (issue #13): ``and``'s threshold and max_iterations, a member's own start_at,
end_at and timezone, and bounds given as wall times that a DST gap skips or a fold repeats."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from beat_store.exceptions import InvalidTrigger, TriggerGaveUp
from beat_store.triggers import build_trigger, describe_trigger, next_fire_times, validate_trigger_spec

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
JANUARY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
CRON_NINE = {"type": "cron", "hour": "9"}
# Minute 0 and second 30 of every hour: 30 s apart, so they agree only within a threshold of 30 s or more.
ON_THE_HOUR = {"type": "cron", "minute": "0"}
HALF_A_MINUTE_LATER = {"type": "cron", "minute": "0", "second": "30"}


def utc(*fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=UTC, fold=fold)  # type: ignore[misc]


def paris(*fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=PARIS, fold=fold)  # type: ignore[misc]


def in_utc(moments: list[datetime]) -> list[datetime]:
    return [moment.astimezone(UTC) for moment in moments]


# --- and: threshold and max_iterations ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"threshold": 30}, [utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 1, 0)]),
        ({"threshold": 60}, [utc(2026, 1, 5, 0, 0), utc(2026, 1, 5, 1, 0)]),
    ],
    ids=[
        "members 30 s apart agree within a threshold of 30 s, at the earlier time",
        "a wider threshold agrees on the same times",
    ],
)
def test_and_threshold_is_how_far_apart_members_may_fire(options: dict[str, Any], expected: list[datetime]) -> None:
    spec = {"type": "and", "triggers": [ON_THE_HOUR, HALF_A_MINUTE_LATER], **options}

    assert in_utc(next_fire_times(spec, timezone="UTC", after=JANUARY, count=2)) == expected


@pytest.mark.parametrize(
    ("options", "tries"),
    [({}, "10000"), ({"threshold": 29.5, "max_iterations": 50}, "50"), ({"threshold": 0, "max_iterations": 3}, "3")],
    ids=[
        "by default members 30 s apart never agree within 1 s: it gives up after 10,000 tries",
        "just under the gap with 50 tries gives up after 50",
        "a threshold of 0 needs the very same instant",
    ],
)
def test_and_gives_up_after_max_iterations(options: dict[str, Any], tries: str, settings: Any) -> None:
    settings.BEAT_STORE_TRIGGER_TIME_BUDGET = 60  # the iteration limit, not the time budget, is under test
    spec = {"type": "and", "triggers": [ON_THE_HOUR, HALF_A_MINUTE_LATER], **options}
    trigger = build_trigger(spec, timezone="UTC", anchor=JANUARY)

    with pytest.raises(TriggerGaveUp, match=rf"after {tries} tries"):
        trigger.next_at_or_after(JANUARY)


def test_one_iteration_is_enough_when_members_agree_at_once() -> None:
    spec = {"type": "and", "triggers": [ON_THE_HOUR, HALF_A_MINUTE_LATER], "threshold": 30.0, "max_iterations": 1}

    assert in_utc(next_fire_times(spec, timezone="UTC", after=JANUARY, count=1)) == [utc(2026, 1, 5, 0, 0)]


def test_and_with_threshold_0_fires_when_members_meet_exactly() -> None:
    spec = {"type": "and", "triggers": [CRON_NINE, {"type": "cron", "hour": "9", "day_of_week": "mon"}], "threshold": 0}

    assert in_utc(next_fire_times(spec, timezone="UTC", after=JANUARY, count=2)) == [
        utc(2026, 1, 5, 9),
        utc(2026, 1, 12, 9),
    ]


@pytest.mark.parametrize(
    ("options", "field", "reason"),
    [
        ({"threshold": -1}, "threshold", "must not be negative"),
        ({"threshold": 86_401}, "threshold", "must be at most 86400 seconds (one day)"),
        ({"threshold": "1"}, "threshold", "must be a number, not a string"),
        ({"threshold": True}, "threshold", "not a boolean"),
        ({"max_iterations": 0}, "max_iterations", "must be between 1 and 10,000"),
        ({"max_iterations": 10_001}, "max_iterations", "must be between 1 and 10,000 (a tick must stay short)"),
        ({"max_iterations": 1.5}, "max_iterations", "must be a whole number"),
        ({"max_iterations": None}, "max_iterations", "must be a whole number, not null"),
    ],
    ids=[
        "a negative threshold is refused",
        "a threshold over a day is refused",
        "a threshold given as text is refused",
        "a boolean threshold is refused",
        "zero iterations are refused",
        "more than 10,000 iterations are refused: a tick must stay bounded",
        "fractional iterations are refused",
        "unlimited iterations (APScheduler's None) are refused",
    ],
)
def test_and_options_out_of_bounds_are_refused(options: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidTrigger) as caught:
        validate_trigger_spec({"type": "and", "triggers": [CRON_NINE], **options})

    assert caught.value.field == field
    assert reason in caught.value.reason


def test_or_takes_no_and_options() -> None:
    with pytest.raises(InvalidTrigger, match="threshold: unknown field for the or trigger"):
        validate_trigger_spec({"type": "or", "triggers": [CRON_NINE], "threshold": 5})


def test_and_options_are_kept_only_when_given_so_stored_specs_stay_normalised() -> None:
    plain = {"type": "and", "triggers": [{"type": "cron", "hour": "9"}]}
    with_options = {**plain, "threshold": 2.5, "max_iterations": 500}

    assert validate_trigger_spec(plain) == plain
    assert validate_trigger_spec(with_options) == with_options


# --- bounds given as wall times: DST gaps refused, folds at their first occurrence ------------------------------

GAP_MESSAGE = (
    "2026-03-29T02:30:00 does not exist in Europe/Paris: the clocks go forward from 02:00 to 03:00 that day "
    "(DST gap); give a time outside the gap, or one with a UTC offset"
)


@pytest.mark.parametrize("bound", ["start_at", "end_at"])
def test_a_naive_bound_in_a_dst_gap_is_refused_by_next_fire_times(bound: str) -> None:
    with pytest.raises(InvalidTrigger) as caught:
        next_fire_times(CRON_NINE, timezone="Europe/Paris", after=JANUARY, **{bound: datetime(2026, 3, 29, 2, 30)})

    assert caught.value.field == bound
    assert caught.value.reason == GAP_MESSAGE


@pytest.mark.parametrize(
    ("start_at", "first_fire_time"),
    [
        (datetime(2026, 10, 25, 2, 30), utc(2026, 10, 25, 0, 30)),
        (datetime(2026, 10, 25, 2, 30, fold=1), utc(2026, 10, 25, 0, 30)),
        (paris(2026, 10, 25, 2, 30, fold=0), utc(2026, 10, 25, 0, 30)),
        (paris(2026, 10, 25, 2, 30, fold=1), utc(2026, 10, 25, 1, 30)),
        (paris(2026, 3, 29, 3, 0), utc(2026, 3, 29, 1, 0)),
    ],
    ids=[
        "a naive start in a fold is its first occurrence",
        "a naive start's fold is a wall-clock detail: still the first occurrence",
        "an aware start with fold=0 is the first pass",
        "an aware start with fold=1 is the second pass",
        "an aware start just after a gap is accepted",
    ],
)
def test_bounds_in_a_fold_and_aware_bounds_are_instants(start_at: datetime, first_fire_time: datetime) -> None:
    every_quarter = {"type": "cron", "minute": "*/15"}

    fire_times = next_fire_times(every_quarter, timezone="Europe/Paris", after=JANUARY, start_at=start_at, count=1)

    assert in_utc(fire_times) == [first_fire_time]


def test_a_naive_after_in_a_gap_is_not_a_bound_and_means_the_end_of_the_gap() -> None:
    fire_times = next_fire_times(
        {"type": "cron", "minute": "*/15"}, timezone="Europe/Paris", after=datetime(2026, 3, 29, 2, 30), count=1
    )

    assert in_utc(fire_times) == [utc(2026, 3, 29, 1, 0)]


def test_a_start_after_the_end_stays_an_error() -> None:
    with pytest.raises(InvalidTrigger, match="end_at: must not be earlier than start_at"):
        next_fire_times(
            CRON_NINE,
            timezone="Europe/Paris",
            after=JANUARY,
            start_at=datetime(2026, 2, 1),
            end_at=datetime(2026, 1, 1),
        )


# --- a member's own start_at, end_at and timezone -------------------------------------------------------------


def test_members_fire_in_their_own_zones_shown_in_the_schedules_zone() -> None:
    spec = {
        "type": "or",
        "triggers": [{**CRON_NINE, "timezone": "Europe/Paris"}, {**CRON_NINE, "timezone": "America/New_York"}],
    }

    fire_times = next_fire_times(spec, timezone="UTC", after=JANUARY, count=3)

    assert fire_times == [utc(2026, 1, 5, 8), utc(2026, 1, 5, 14), utc(2026, 1, 6, 8)]
    assert {moment.tzinfo for moment in fire_times} == {ZoneInfo("UTC")}


def test_a_members_zone_is_inherited_by_its_own_members() -> None:
    spec = {
        "type": "or",
        "triggers": [
            {
                "type": "or",
                "triggers": [CRON_NINE, {"type": "date", "run_at": "2026-01-05T12:00:00"}],
                "timezone": "America/New_York",
            },
            {**CRON_NINE, "hour": "10"},
        ],
    }

    fire_times = next_fire_times(spec, timezone="Europe/Paris", after=JANUARY, count=3)

    assert in_utc(fire_times) == [utc(2026, 1, 5, 9), utc(2026, 1, 5, 14), utc(2026, 1, 5, 17)]


def test_member_bounds_limit_that_member_only() -> None:
    spec = {
        "type": "or",
        "triggers": [
            {**CRON_NINE, "end_at": "2026-01-06T12:00:00"},
            {"type": "cron", "hour": "18", "start_at": "2026-01-06T12:00:00"},
        ],
    }

    fire_times = next_fire_times(spec, timezone="Europe/Paris", after=JANUARY, count=4)

    assert fire_times == [paris(2026, 1, 5, 9), paris(2026, 1, 6, 9), paris(2026, 1, 6, 18), paris(2026, 1, 7, 18)]


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (
            {"type": "interval", "hours": 6, "start_at": "2026-01-05T01:30:00"},
            [paris(2026, 1, 5, 1, 30), paris(2026, 1, 5, 7, 30)],
        ),
        (
            {"type": "calendarinterval", "days": 2, "hour": 7, "start_at": "2026-01-06T00:00:00"},
            [paris(2026, 1, 6, 7), paris(2026, 1, 8, 7)],
        ),
        (
            {"type": "interval", "hours": 6, "start_at": "2026-01-05T01:30:00", "timezone": "America/New_York"},
            [datetime(2026, 1, 5, 1, 30, tzinfo=NEW_YORK), datetime(2026, 1, 5, 7, 30, tzinfo=NEW_YORK)],
        ),
    ],
    ids=[
        "an interval member's start_at is its first fire time",
        "a calendar interval member counts from its start_at's date",
        "a member's start_at is read in the member's own zone",
    ],
)
def test_a_members_start_at_anchors_it(member: dict[str, Any], expected: list[datetime]) -> None:
    spec = {"type": "or", "triggers": [member]}

    fire_times = next_fire_times(spec, timezone="Europe/Paris", after=JANUARY - timedelta(days=1), count=2)

    assert in_utc(fire_times) == in_utc(expected)


@pytest.mark.parametrize(
    ("member", "field", "reason"),
    [
        ({**CRON_NINE, "start_at": "2026-03-29T02:30:00"}, "triggers.0.start_at", GAP_MESSAGE),
        (
            {**CRON_NINE, "end_at": "2026-03-08T02:30:00", "timezone": "America/New_York"},
            "triggers.0.end_at",
            "2026-03-08T02:30:00 does not exist in America/New_York",
        ),
        (
            {**CRON_NINE, "start_at": "2026-02-01T00:00:00", "end_at": "2026-01-31T22:59:59+00:00"},
            "triggers.0.end_at",
            "must not be earlier than start_at",
        ),
    ],
    ids=[
        "a member's naive start in the schedule zone's gap is refused",
        "a member's naive end in its own zone's gap is refused",
        "a member's naive start after its aware end is refused once the zone is known",
    ],
)
def test_member_bounds_that_name_no_instant_or_run_backwards_are_refused_when_built(
    member: dict[str, Any], field: str, reason: str
) -> None:
    spec = {"type": "or", "triggers": [member]}

    with pytest.raises(InvalidTrigger) as caught:
        build_trigger(spec, timezone="Europe/Paris", anchor=JANUARY)

    assert caught.value.field == field
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ({**CRON_NINE, "timezone": "UTC"}, "timezone", "only members of an 'or'/'and' carry their own timezone"),
        ({**CRON_NINE, "start_at": "2026-01-01T00:00:00"}, "start_at", "set the schedule's start_at instead"),
        (
            {"type": "or", "triggers": [{**CRON_NINE, "timezone": "Mars/Base"}]},
            "triggers.0.timezone",
            "unknown time zone 'Mars/Base'",
        ),
        ({"type": "or", "triggers": [{**CRON_NINE, "timezone": 5}]}, "triggers.0.timezone", "a time zone name such as"),
        (
            {"type": "or", "triggers": [{**CRON_NINE, "start_at": "soon"}]},
            "triggers.0.start_at",
            "not an ISO 8601 date-time",
        ),
        (
            {
                "type": "or",
                "triggers": [{**CRON_NINE, "start_at": "2026-02-01T00:00:00", "end_at": "2026-01-01T00:00:00"}],
            },
            "triggers.0.end_at",
            "must not be earlier than start_at",
        ),
        (
            {"type": "or", "triggers": [{**CRON_NINE, "start_time": "2026-01-01T00:00:00"}]},
            "triggers.0.start_time",
            "(APScheduler's start_time is start_at here)",
        ),
    ],
    ids=[
        "a top-level timezone is the schedule's field, not the spec's",
        "a top-level start_at is the schedule's field, not the spec's",
        "a member's unknown zone is named by its path",
        "a member's zone that is no text is refused",
        "a member's start that is no date-time is refused",
        "a member's start after its end is refused",
        "APScheduler's start_time is pointed to start_at",
    ],
)
def test_invalid_member_options_name_the_field(spec: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(InvalidTrigger) as caught:
        validate_trigger_spec(spec)

    assert caught.value.field == field
    assert reason in caught.value.reason


def test_member_options_are_normalised() -> None:
    spec = {
        "type": "and",
        "triggers": [
            {**CRON_NINE, "timezone": " Europe/Paris ", "start_at": "2026-01-01 09:00", "end_at": "2026-06-01T00:00Z"}
        ],
    }

    member = validate_trigger_spec(spec)["triggers"][0]

    assert member == {
        "type": "cron",
        "hour": "9",
        "timezone": "Europe/Paris",
        "start_at": "2026-01-01T09:00:00",
        "end_at": "2026-06-01T00:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {
                "type": "or",
                "triggers": [{**CRON_NINE, "timezone": "America/New_York", "end_at": "2026-06-01T00:00:00"}],
            },
            "Any of: At 09:00 (America/New_York), until 2026-06-01 00:00",
        ),
        (
            {"type": "and", "triggers": [CRON_NINE], "threshold": 5, "max_iterations": 500},
            "All of (within 5 s, at most 500 tries): At 09:00 (Europe/Paris)",
        ),
        (
            {"type": "or", "triggers": [{"type": "interval", "hours": 6, "start_at": "2026-01-05T01:30:00+01:00"}]},
            "Any of: Every 6 hours, from 2026-01-05 01:30+01:00",
        ),
    ],
    ids=["a member's zone and end are described", "and options are described", "an aware start keeps its offset"],
)
def test_describe_shows_member_options_and_and_options(spec: dict[str, Any], expected: str) -> None:
    assert describe_trigger(spec, "Europe/Paris") == expected


def test_errors_name_the_gap_in_plain_words() -> None:
    with pytest.raises(InvalidTrigger, match=re.escape("the clocks go forward from 02:00 to 03:00")):
        next_fire_times(CRON_NINE, timezone=PARIS, after=JANUARY, start_at=datetime(2026, 3, 29, 2, 0))
