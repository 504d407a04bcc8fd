"""Validation and normalisation of trigger specs: every kind accepted, every mistake named."""

from __future__ import annotations

from typing import Any

import pytest

from beat_store.exceptions import InvalidTrigger
from beat_store.triggers import validate_trigger_spec

CRON_NINE = {"type": "cron", "hour": "9", "minute": "0"}


def nested(depth: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "interval", "weeks": 0, "days": 0, "hours": 0, "minutes": 0, "seconds": 1}
    for _ in range(depth):
        spec = {"type": "or", "triggers": [spec]}
    return spec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"type": "date", "run_at": "2026-12-01T09:00:00"},
            {"type": "date", "run_at": "2026-12-01T09:00:00"},
        ),
        (
            {"type": "date", "run_at": "2026-12-01T09:00:00Z"},
            {"type": "date", "run_at": "2026-12-01T09:00:00+00:00"},
        ),
        (
            {"type": "interval", "seconds": 30},
            {"type": "interval", "weeks": 0, "days": 0, "hours": 0, "minutes": 0, "seconds": 30},
        ),
        (
            {"type": "interval", "hours": 1.5},
            {"type": "interval", "weeks": 0, "days": 0, "hours": 1.5, "minutes": 0, "seconds": 0},
        ),
        (
            {"type": "cron", "expression": " */5  *  * * * "},
            {"type": "cron", "expression": "*/5 * * * *"},
        ),
        (
            {"type": "cron", "day_of_week": "mon-fri", "hour": 9, "minute": "0"},
            {"type": "cron", "day_of_week": "mon-fri", "hour": "9", "minute": "0"},
        ),
        (
            {"type": "cron", "day": "last fri", "month": "jan-mar"},
            {"type": "cron", "month": "jan-mar", "day": "last fri"},
        ),
        (
            {"type": "calendarinterval", "months": 1, "hour": 10},
            {
                "type": "calendarinterval",
                "years": 0,
                "months": 1,
                "weeks": 0,
                "days": 0,
                "hour": 10,
                "minute": 0,
                "second": 0,
            },
        ),
        (
            {"type": "or", "triggers": [CRON_NINE, {"type": "interval", "minutes": 5}]},
            {
                "type": "or",
                "triggers": [
                    CRON_NINE,
                    {"type": "interval", "weeks": 0, "days": 0, "hours": 0, "minutes": 5, "seconds": 0},
                ],
            },
        ),
        (
            {"type": "and", "triggers": [CRON_NINE]},
            {"type": "and", "triggers": [CRON_NINE]},
        ),
        (nested(5), nested(5)),
    ],
    ids=[
        "a naive date keeps its wall time",
        "a Z-suffixed date is normalised to +00:00",
        "an interval gets every unit filled in",
        "an interval accepts fractional hours",
        "a crontab expression has its whitespace collapsed",
        "cron field values become strings",
        "cron accepts APScheduler's day and month names",
        "a calendar interval gets every default filled in",
        "an or combination normalises its members",
        "an and combination of one member is accepted",
        "combinations nested five deep are accepted",
    ],
)
def test_valid_spec_is_normalised(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    normalised = validate_trigger_spec(spec)

    assert normalised == expected
    assert next(iter(normalised)) == "type"


def test_validation_does_not_modify_the_given_spec() -> None:
    spec = {"type": "or", "triggers": [{"type": "interval", "seconds": 5}]}

    validate_trigger_spec(spec)

    assert spec == {"type": "or", "triggers": [{"type": "interval", "seconds": 5}]}


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        ("cron", None, "must be a JSON object"),
        ([], None, "must be a JSON object"),
        ({}, "type", "required"),
        ({"type": "weekly"}, "type", "unknown trigger type 'weekly'"),
        ({"type": 3}, "type", "unknown trigger type 3"),
        ({"type": "interval", 1: 2}, "1", "field names must be strings"),
        ({"type": "interval", "seconds": 5, "secs": 1}, "secs", "unknown field for the interval trigger"),
        ({"type": "interval"}, None, "longer than zero"),
        ({"type": "interval", "seconds": 0, "minutes": 0}, None, "longer than zero"),
        ({"type": "interval", "seconds": 1e-9}, None, "longer than zero"),
        ({"type": "interval", "seconds": -5}, "seconds", "must not be negative"),
        ({"type": "interval", "hours": "1"}, "hours", "must be a number, not a string"),
        ({"type": "interval", "hours": True}, "hours", "not a boolean"),
        ({"type": "interval", "hours": float("nan")}, "hours", "must be a number"),
        ({"type": "interval", "weeks": 10**12}, None, "too long"),
        ({"type": "date"}, "run_at", "required"),
        ({"type": "date", "run_at": "next tuesday"}, "run_at", "not an ISO 8601 date-time"),
        ({"type": "date", "run_at": 1700000000}, "run_at", "must be an ISO 8601 date-time string"),
        ({"type": "date", "run_at": "2026-12-01", "when": "x"}, "when", "unknown field"),
        ({"type": "cron"}, None, "needs an 'expression' or at least one of"),
        ({"type": "cron", "expression": "* * * *"}, "expression", "has 5 fields"),
        ({"type": "cron", "expression": "* * * * * *"}, "expression", "got 6"),
        ({"type": "cron", "expression": 5}, "expression", "must be a crontab string"),
        ({"type": "cron", "expression": "61 * * * *"}, "expression", "minute field '61'"),
        ({"type": "cron", "expression": "* 24 * * *"}, "expression", "hour field '24'"),
        ({"type": "cron", "expression": "* * 0 * *"}, "expression", "day-of-month field '0'"),
        ({"type": "cron", "expression": "* * * 13 *"}, "expression", "month field '13'"),
        ({"type": "cron", "expression": "* * * * 8"}, "expression", "8 is not a weekday number"),
        ({"type": "cron", "expression": "* * * * funday"}, "expression", "'funday' is not a weekday name"),
        ({"type": "cron", "day_of_week": "8"}, "day_of_week", "8 is not a weekday number (0-7: 0 and 7 = Sunday"),
        ({"type": "cron", "day_of_week": "*-2"}, "day_of_week", "'*' takes no range end"),
        ({"type": "cron", "expression": "* * * * */0"}, "expression", "step"),
        ({"type": "cron", "expression": "0 9 * * *", "hour": "9"}, "hour", "cannot be combined with"),
        ({"type": "cron", "minute": "60"}, "minute", "invalid minute value '60'"),
        ({"type": "cron", "hour": "9-5"}, "hour", "invalid hour value '9-5'"),
        ({"type": "cron", "day_of_week": "funday"}, "day_of_week", "invalid day_of_week value"),
        ({"type": "cron", "second": "*/0"}, "second", "invalid second value"),
        ({"type": "cron", "year": "1969"}, "year", "lower than the minimum"),
        ({"type": "cron", "minute": ""}, "minute", "must not be empty"),
        ({"type": "cron", "minute": None}, "minute", "must be a string or an integer, not null"),
        ({"type": "cron", "minute": 1.5}, "minute", "must be a string or an integer"),
        ({"type": "cron", "minutes": "5"}, "minutes", "unknown field for the cron trigger"),
        ({"type": "calendarinterval"}, None, "at least one of years, months, weeks, days above zero"),
        ({"type": "calendarinterval", "months": 1.5}, "months", "must be a whole number"),
        ({"type": "calendarinterval", "days": -1}, "days", "must not be negative"),
        ({"type": "calendarinterval", "years": 10**6}, "years", "must be at most 9998"),
        ({"type": "calendarinterval", "days": 1, "hour": 24}, "hour", "between 0 and 23"),
        ({"type": "calendarinterval", "days": 1, "minute": 60}, "minute", "between 0 and 59"),
        ({"type": "calendarinterval", "days": 1, "seconds": 5}, "seconds", "unknown field"),
        ({"type": "or"}, "triggers", "required: a list"),
        ({"type": "or", "triggers": []}, "triggers", "needs at least one trigger"),
        ({"type": "and", "triggers": {"type": "interval"}}, "triggers", "must be a list"),
        ({"type": "and", "triggers": [CRON_NINE, {"type": "cron", "hour": "25"}]}, "triggers.1.hour", "hour"),
        ({"type": "or", "triggers": [{"type": "and", "triggers": [7]}]}, "triggers.0.triggers.0", "object"),
        ({"type": "or", "triggers": [{"type": "interval"}]}, "triggers.0", "longer than zero"),
        (nested(6), "triggers.0.triggers.0.triggers.0.triggers.0.triggers.0", "nest at most 5 deep"),
    ],
    ids=[
        "a string is not a spec",
        "a list is not a spec",
        "a spec without a type is refused",
        "an unknown type is refused",
        "a non-string type is refused",
        "a non-string field name is refused",
        "an unknown interval field is refused",
        "an interval with no units is refused",
        "an interval of zero is refused",
        "an interval shorter than a microsecond is refused",
        "a negative interval unit is refused",
        "an interval unit given as a string is refused",
        "an interval unit given as a boolean is refused",
        "an interval unit that is not a number is refused",
        "an interval longer than Python can count is refused",
        "a date without run_at is refused",
        "a date in words is refused",
        "a date given as a timestamp is refused",
        "an unknown date field is refused",
        "a cron with no expression and no fields is refused",
        "a crontab with four fields is refused",
        "a crontab with six fields is refused",
        "a crontab that is not a string is refused",
        "a crontab minute of 61 is refused",
        "a crontab hour of 24 is refused",
        "a crontab day of month 0 is refused",
        "a crontab month 13 is refused",
        "a crontab weekday 8 is refused",
        "a crontab weekday name that does not exist is refused",
        "a day_of_week field of 8 is refused, naming crontab's numbering",
        "a day_of_week field range starting at * is refused",
        "a crontab weekday step of zero is refused",
        "a crontab mixed with cron fields is refused",
        "a cron minute of 60 is refused",
        "a cron hour range running backwards is refused",
        "a cron weekday name that does not exist is refused",
        "a cron step of zero is refused",
        "a cron year before 1970 is refused",
        "an empty cron field is refused",
        "a null cron field is refused",
        "a fractional cron field is refused",
        "an unknown cron field is refused",
        "a calendar interval with no step is refused",
        "a fractional calendar step is refused",
        "a negative calendar step is refused",
        "a calendar step past year 9999 is refused",
        "a calendar hour of 24 is refused",
        "a calendar minute of 60 is refused",
        "a calendar interval does not take seconds",
        "a combination without triggers is refused",
        "an empty combination is refused",
        "a combination whose triggers are not a list is refused",
        "a bad member field is named by its dotted path",
        "a non-object member deep inside is named by its path",
        "a zero interval member is named by its path",
        "combinations nested six deep are refused",
    ],
)
def test_invalid_spec_names_the_field_and_the_reason(spec: object, field: str | None, reason: str) -> None:
    with pytest.raises(InvalidTrigger) as caught:
        validate_trigger_spec(spec)

    assert caught.value.field == field
    assert reason in caught.value.reason
