"""Hypothesis strategies of careless and hostile input: trigger specs, schedule values, admin form fields, files
and raw table rows. Most draws are wrong somewhere; some are valid. Used by test_fuzz_input.py."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: In CI the examples are derived from the test's name (the same every run), so that a green main stays green;
#: locally each run draws new ones, and a failure prints the example and a blob to replay it.
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)

UTC = timezone.utc

ZONES = st.sampled_from(
    ["UTC", "Europe/Paris", "America/New_York", "Pacific/Kiritimati", "Australia/Lord_Howe", "Europe", "",
     "Mars/Base", "../etc/passwd", "Factory", "posix/Europe/Paris", " UTC ", "utc"]
)  # fmt: skip

NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=10**6),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 0.5, 1e-300, 1e300, 2**63, -(2**63) - 1, 10**40]),
)

JSON_LEAVES = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=12))
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)

MOMENTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
MOMENT_TEXT = st.one_of(
    MOMENTS.map(datetime.isoformat),
    st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    st.sampled_from(["2026-12-01T09:00:00", "2026-03-29T02:30:00", "2026-10-25T02:30:00", "tomorrow", "", "9" * 100]),
    st.text(max_size=25),
)

CRON_TEXT = st.one_of(
    st.sampled_from(
        ["*", "*/5", "0", "1-5", "mon-fri", "sat-mon", "6-1", "53", "last", "L", "5000", "99", "*/0", "1,2,3",
         "2nd mon", "last fri", "xyz", "0 9 * * *", "* * * * *", "*/2 * * * *", "0 0 31 2 *", "? ? ? ? ?"]
    ),
    st.text(alphabet="0123456789*/,-LW# abcdefmnorstuwy", max_size=20),
    st.integers(min_value=-100, max_value=100),
    st.just("1" * 5000),
)  # fmt: skip

TRIGGER_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "run_at": MOMENT_TEXT,
    **{unit: NUMBERS for unit in ("weeks", "days", "hours", "minutes", "seconds", "years", "months")},
    "expression": CRON_TEXT,
    **{name: CRON_TEXT for name in ("year", "month", "day", "week", "day_of_week", "hour", "minute", "second")},
    "start_time": MOMENT_TEXT,  # APScheduler's names, which the spec refuses with a hint
}


def _leaf_specs() -> st.SearchStrategy[Any]:
    kinds = st.sampled_from(["date", "interval", "cron", "calendarinterval", "weird", None])
    spec = st.fixed_dictionaries({"type": kinds}, optional=TRIGGER_FIELDS)
    return st.one_of(spec, spec, spec, JSON_LEAVES)


def _combinations(members: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"type": st.sampled_from(["or", "and"]), "triggers": st.lists(members, max_size=4)},
        optional={
            "threshold": NUMBERS,
            "max_iterations": NUMBERS,
            "start_at": MOMENT_TEXT,
            "end_at": MOMENT_TEXT,
            "timezone": ZONES,
        },
    )


_VALID_LEAVES = st.one_of(
    st.builds(lambda seconds: {"type": "interval", "seconds": seconds}, st.integers(min_value=1, max_value=10**6)),
    st.builds(
        lambda minute, hour, weekday: {"type": "cron", "minute": minute, "hour": hour, "day_of_week": weekday},
        st.sampled_from(["0", "*/5", "15,45", "*"]),
        st.sampled_from(["*", "9", "0-6", "*/2"]),
        st.sampled_from(["*", "mon-fri", "sat-mon", "0", "7", "sun"]),
    ),
    st.sampled_from(["* * * * *", "0 9 * * 1-5", "30 2 * * *", "0 0 29 2 *", "*/10 * * * 6-1"]).map(
        lambda expression: {"type": "cron", "expression": expression}
    ),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda moment: {"type": "date", "run_at": moment.isoformat()}
    ),
    st.builds(
        lambda months, day, hour: {"type": "calendarinterval", "months": months, "days": day, "hour": hour},
        st.integers(min_value=0, max_value=24),
        st.integers(min_value=0, max_value=40),
        st.integers(min_value=0, max_value=23),
    ).filter(lambda spec: spec["months"] or spec["days"]),
)
#: Valid specs, combined too: a fuzz of bad input must also see that good input keeps working.
VALID_SPECS = st.recursive(
    _VALID_LEAVES,
    lambda members: st.fixed_dictionaries(
        {"type": st.sampled_from(["or", "and"]), "triggers": st.lists(members, min_size=1, max_size=3)}
    ),
    max_leaves=4,
)
TRIGGER_SPECS = st.one_of(VALID_SPECS, st.recursive(_leaf_specs(), _combinations, max_leaves=6))

SECONDS = st.one_of(st.none(), NUMBERS)
BOUNDS = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    MOMENTS,
)
HEADERS = st.dictionaries(
    st.one_of(st.sampled_from(["id", "task", "eta", "beat_store_execution", "team", "trace"]), st.text(max_size=6)),
    JSON_VALUES,
    max_size=3,
)

#: Keyword arguments of add_schedule (besides name, task and trigger): none, sensible ones, or anything.
SENSIBLE_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "timezone": st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
        "args": st.lists(st.integers(min_value=-100, max_value=100), max_size=3),
        "jitter": st.floats(min_value=0, max_value=60),
        "misfire_grace_time": st.floats(min_value=0, max_value=3600),
        "coalesce": st.sampled_from(["latest", "earliest", "all"]),
        "max_instances": st.integers(min_value=1, max_value=5),
    },
)
ANY_VALUES = st.fixed_dictionaries(
    {},
    optional={
        "timezone": ZONES,
        "args": st.one_of(st.lists(JSON_VALUES, max_size=3), JSON_VALUES),
        "kwargs": st.one_of(st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3), JSON_VALUES),
        "headers": st.one_of(HEADERS, JSON_VALUES),
        "start_at": BOUNDS,
        "end_at": BOUNDS,
        "jitter": SECONDS,
        "misfire_grace_time": SECONDS,
        "expires": SECONDS,
        "max_instances": st.one_of(st.integers(), NUMBERS),
        "priority": st.one_of(st.none(), st.integers()),
        "coalesce": st.sampled_from(["latest", "earliest", "all", "sometimes", ""]),
        "keep_runs_days": st.one_of(st.none(), st.integers()),
        "queue": st.text(max_size=10),
    },
)
SCHEDULE_VALUES = st.one_of(st.just({}), SENSIBLE_VALUES, ANY_VALUES)

TASKS = st.sampled_from(["tests.add", "tests.add", "tests.add\x00", "", "no.such.task", "x" * 300])

#: Admin form fields as text, as a browser (or a crafted POST) sends them.
FORM_TEXT = st.one_of(
    st.sampled_from(["", "0", "-1", "1e300", "inf", "NaN", "[NaN]", '{"a": Infinity}', "[" * 5000, "9" * 5000]),
    st.text(max_size=30),
    st.integers().map(str),
    st.floats().map(str),
    JSON_VALUES.map(lambda value: repr(value)),
)
FORM_FIELDS = st.dictionaries(
    st.sampled_from(
        ["name", "task", "timezone", "args", "kwargs", "headers", "misfire_grace_time", "max_instances", "jitter",
         "priority", "expires", "keep_runs_days", "coalesce", "start_at_0", "start_at_1", "end_at_0", "end_at_1",
         "trigger-kind", "trigger-cron_expression", "trigger-cron_minute", "trigger-cron_week",
         "trigger-interval_seconds", "trigger-date_run_at", "trigger-calendar_months", "trigger-spec_json",
         "trigger_members-TOTAL_FORMS", "trigger_members-0-kind", "trigger_members-0-cron_hour",
         "trigger_members-0-timezone", "trigger_members-0-start_at", "trigger-and_max_iterations"]
    ),
    st.one_of(FORM_TEXT, st.sampled_from(["cron", "interval", "date", "calendarinterval", "or", "and", "spec"])),
    max_size=6,
)  # fmt: skip

#: Columns of a schedule row written around validation (bulk_create or raw SQL by another service).
RAW_ROWS = st.fixed_dictionaries(
    {"trigger": TRIGGER_SPECS},
    optional={
        "timezone": ZONES,
        "args": JSON_VALUES,
        "kwargs": JSON_VALUES,
        "headers": JSON_VALUES,
        "start_at": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
        "end_at": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
        "jitter": SECONDS,
        "misfire_grace_time": SECONDS,
        "expires": SECONDS,
        "max_instances": st.integers(min_value=1, max_value=2**31 - 1),
    },
)


#: How long one operation may take: the budgets (set small by the fuzz tests) plus room for a loaded machine.
def time_allowed(budget: float) -> timedelta:
    return timedelta(seconds=budget * 2 + 0.6)
