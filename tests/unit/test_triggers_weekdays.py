"""Day-of-week values: crontab numbering, wrapping ranges, and the rewrite from APScheduler 3's numbering."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from apscheduler.triggers.cron.fields import DayOfWeekField
from hypothesis import given, settings
from hypothesis import strategies as st

from beat_store.triggers.weekdays import (
    convert_day_of_week_numbering,
    read_weekdays,
    renumber_day_of_week,
    weekday_names,
)

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
A_MONDAY = date(2024, 1, 1)


def apscheduler3_days(text: str) -> frozenset[int]:
    """The weekdays APScheduler 3's own field parser matches: the old meaning of a stored value."""
    field = DayOfWeekField("day_of_week", text)
    days = [A_MONDAY + timedelta(days=offset) for offset in range(7)]
    return frozenset(day.weekday() for day in days if field.get_next_value(day) == field.get_value(day))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", {SUN}),
        ("7", {SUN}),
        ("1", {MON}),
        ("6", {SAT}),
        ("1-5", {MON, TUE, WED, THU, FRI}),
        ("0-7", set(range(7))),
        ("6-1", {SAT, SUN, MON}),
        ("sat-mon", {SAT, SUN, MON}),
        ("fri-sun", {FRI, SAT, SUN}),
        ("mon-sun", set(range(7))),
        ("sun-sun", {SUN}),
        ("5-0", {FRI, SAT, SUN}),
        ("*", set(range(7))),
        ("*/2", {SUN, TUE, THU, SAT}),
        ("1-5/2", {MON, WED, FRI}),
        ("fri-mon/2", {FRI, SUN}),
        ("1/3", {MON, THU, SUN}),
        ("MON, wed ,Fri", {MON, WED, FRI}),
    ],
    ids=lambda value: repr(value) if isinstance(value, str) else "",
)
def test_read_weekdays_in_crontab_numbering(text: str, expected: set[int]) -> None:
    assert read_weekdays(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("8", "8 is not a weekday number (0-7: 0 and 7 = Sunday, 1 = Monday)"),
        ("funday", "'funday' is not a weekday name"),
        ("*-3", "'*' takes no range end"),
        ("mon/0", "must be at least 1"),
        ("mon-", "cannot read 'mon-'"),
        ("", "cannot read ''"),
    ],
    ids=[
        "eight is no weekday number",
        "an unknown name is refused",
        "a star range is refused",
        "a zero step is refused",
        "a dangling range is refused",
        "an empty value is refused",
    ],
)
def test_read_weekdays_refuses_bad_values_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        read_weekdays(text)


@pytest.mark.parametrize(
    "text",
    ["0", "6", "0-4", "1-5", "5-6", "*", "*/2", "*/3", "0-6/2", "2/2", "mon-fri", "sat,sun", "sun", "mon-fri/2",
     "0,sat", "Mon-Wed", "3 , 5"],
)  # fmt: skip
def test_the_apscheduler3_reading_matches_apscheduler3_itself(text: str) -> None:
    assert read_weekdays(text, numbering="apscheduler3") == apscheduler3_days(text)


@pytest.mark.parametrize("text", ["7", "6-1", "sat-mon", "funday", "*-2", "0-1/2", "*/7", "6/1"])
def test_the_apscheduler3_reading_refuses_what_apscheduler3_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)weekday|unrecognized|minimum value|maximum value|step value"):
        apscheduler3_days(text)

    with pytest.raises(ValueError, match=r"weekday name|weekday range|cannot read|longer than its range"):
        read_weekdays(text, numbering="apscheduler3")


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ({MON, TUE, WED, THU, FRI}, "mon-fri"),
        ({SAT, SUN, MON}, "mon,sat,sun"),
        ({SUN}, "sun"),
        ({MON, TUE}, "mon,tue"),
        ({MON, WED, FRI, SUN}, "mon,wed,fri,sun"),
        (set(range(7)), "*"),
    ],
    ids=["a run of five is a range", "no range wraps", "one day", "two days are listed", "a step", "all days"],
)
def test_weekday_names_spell_days_every_numbering_reads_alike(days: set[int], expected: str) -> None:
    named = weekday_names(days)

    assert named == expected
    assert read_weekdays(named) == days
    assert read_weekdays(named, numbering="apscheduler3") == days


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("0", "mon"),
        ("6", "sun"),
        ("0-4", "mon-fri"),
        ("5-6", "sat,sun"),
        ("*/2", "mon,wed,fri,sun"),
        ("0,sat", "mon,sat"),
        ("mon-fri/2", "mon-fri"),
        ("mon-fri", "mon-fri"),
        ("*", "*"),
        ("sat,sun", "sat,sun"),
    ],
    ids=[
        "0 was Monday",
        "6 was Sunday",
        "0-4 was Monday to Friday",
        "5-6 was the weekend",
        "*/2 stepped from Monday",
        "numbers and names mixed",
        "APScheduler 3 ignored a step after a name range",
        "names are kept as written",
        "a star is kept",
        "a list of names is kept",
    ],
)
def test_renumbering_from_apscheduler3_keeps_the_days(old: str, new: str) -> None:
    renumbered = renumber_day_of_week(old, source="apscheduler3", target="crontab")

    assert renumbered == new
    assert read_weekdays(renumbered) == apscheduler3_days(old)


@pytest.mark.parametrize(
    ("current", "old"),
    [("0", "sun"), ("1-5", "mon-fri"), ("sat-mon", "mon,sat,sun"), ("6-1", "mon,sat,sun"), ("*/2", "tue,thu,sat,sun")],
    ids=["0 is Sunday", "1-5 is Monday to Friday", "a wrapping name range", "a wrapping number range", "a step"],
)
def test_renumbering_back_to_apscheduler3_keeps_the_days(current: str, old: str) -> None:
    renumbered = renumber_day_of_week(current, source="crontab", target="apscheduler3")

    assert renumbered == old
    assert apscheduler3_days(renumbered) == read_weekdays(current)


def test_convert_rewrites_day_of_week_fields_in_nested_members_only() -> None:
    spec: dict[str, Any] = {
        "type": "or",
        "triggers": [
            {"type": "cron", "day_of_week": "0-4", "hour": "9"},
            {"type": "cron", "expression": "0 9 * * 0"},
            {"type": "and", "triggers": [{"type": "cron", "day_of_week": "6"}, {"type": "interval", "hours": 1}]},
        ],
    }

    converted = convert_day_of_week_numbering(spec, source="apscheduler3", target="crontab")

    assert converted == {
        "type": "or",
        "triggers": [
            {"type": "cron", "day_of_week": "mon-fri", "hour": "9"},
            {"type": "cron", "expression": "0 9 * * 0"},
            {"type": "and", "triggers": [{"type": "cron", "day_of_week": "sun"}, {"type": "interval", "hours": 1}]},
        ],
    }
    assert spec["triggers"][0]["day_of_week"] == "0-4"


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "cron", "day_of_week": "mon-fri"},
        {"type": "cron", "expression": "0 9 * * 1"},
        {"type": "interval", "hours": 1},
        {"type": "cron", "day_of_week": "funday"},
        {"type": "cron", "day_of_week": None},
        "not a spec",
    ],
    ids=["names", "a crontab expression", "no cron", "a value to leave for validation", "null", "not a spec"],
)
def test_convert_returns_the_same_spec_when_nothing_changes(spec: Any) -> None:
    assert convert_day_of_week_numbering(spec, source="apscheduler3", target="crontab") is spec


# Any value APScheduler 3 accepted, and any value beat_store accepts now: the rewrite keeps its days.
_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_aps3_parts = st.one_of(
    st.just("*"),
    st.integers(1, 6).map(lambda step: f"*/{step}"),
    st.integers(0, 6).map(str),
    st.tuples(st.integers(0, 6), st.integers(0, 6)).map(sorted).map(lambda pair: f"{pair[0]}-{pair[1]}"),
    st.tuples(st.integers(0, 5), st.integers(1, 6)).map(lambda pair: f"{pair[0]}/{pair[1]}"),
    st.sampled_from(_NAMES),
    st.tuples(st.integers(0, 6), st.integers(0, 6)).map(sorted).map(lambda p: f"{_NAMES[p[0]]}-{_NAMES[p[1]]}"),
    st.tuples(st.integers(0, 6), st.integers(0, 6)).map(sorted).map(lambda p: f"{_NAMES[p[0]]}-{_NAMES[p[1]]}/2"),
)
_crontab_parts = st.one_of(
    st.just("*"),
    st.integers(1, 7).map(lambda step: f"*/{step}"),
    st.integers(0, 7).map(str),
    st.tuples(st.integers(0, 7), st.integers(0, 7), st.integers(1, 3)).map(lambda t: f"{t[0]}-{t[1]}/{t[2]}"),
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(_NAMES)).map(lambda pair: f"{pair[0]}-{pair[1]}"),
)


def _values(parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(parts, min_size=1, max_size=3).map(",".join)


@settings(max_examples=300, deadline=None)
@given(old=_values(_aps3_parts))
def test_any_apscheduler3_value_keeps_its_days_when_renumbered(old: str) -> None:
    try:
        old_days = apscheduler3_days(old)
    except ValueError:
        return  # APScheduler 3 refused it: no stored schedule has it

    renumbered = renumber_day_of_week(old, source="apscheduler3", target="crontab")

    assert read_weekdays(renumbered) == old_days
    assert apscheduler3_days(renumber_day_of_week(renumbered, source="crontab", target="apscheduler3")) == old_days


@settings(max_examples=300, deadline=None)
@given(current=_values(_crontab_parts))
def test_any_current_value_keeps_its_days_when_renumbered_back(current: str) -> None:
    days = read_weekdays(current)

    renumbered = renumber_day_of_week(current, source="crontab", target="apscheduler3")

    assert apscheduler3_days(renumbered) == days
