"""Files of schedules and redbeat's JSON, read and written without a database."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from beat_store.transfer.formats import (
    TransferFormatError,
    detect_format,
    dump_document,
    load_records,
    parse_ini,
)
from beat_store.transfer.redbeat import Unmappable, decode_datetime, draft_from_entry
from beat_store.triggers import validate_trigger_spec

RECORD = {
    "name": "report",
    "task": "proj.tasks.report",
    "args": [1, "two"],
    "kwargs": {"to": "ops"},
    "trigger": {"type": "cron", "expression": "0 9 * * mon-fri"},
    "timezone": "Europe/Paris",
    "start_at": "2026-01-01T09:00:00+00:00",
    "misfire_grace_time": 30.5,
    "paused": False,
}


@pytest.mark.parametrize(
    ("path", "explicit", "expected"),
    [
        ("schedules.json", None, "json"),
        ("schedules.YAML", None, "yaml"),
        ("schedules.yml", None, "yaml"),
        ("beat.ini", None, "ini"),
        ("schedules.txt", "yaml", "yaml"),
    ],
    ids=[
        "a .json file is json",
        "an upper-case .YAML file is yaml",
        "a .yml file is yaml",
        "an .ini file is ini",
        "an explicit format wins over the extension",
    ],
)
def test_detect_format_reads_the_extension_unless_told(path: str, explicit: str | None, expected: str) -> None:
    assert detect_format(path, explicit) == expected


def test_detect_format_refuses_an_unknown_extension_naming_the_option() -> None:
    with pytest.raises(TransferFormatError, match="--format"):
        detect_format("schedules.txt")


@pytest.mark.parametrize("fmt", ["json", "yaml"], ids=["json keeps every value", "yaml keeps every value"])
def test_dumped_document_loads_back_to_the_same_records(fmt: str) -> None:
    text = dump_document([RECORD], fmt)

    assert load_records(text, fmt) == [RECORD]


def test_yaml_unquoted_timestamps_become_iso_text() -> None:
    text = "schedules:\n- name: a\n  task: t\n  trigger: {type: date, run_at: 2026-12-01 09:00:00}\n"

    records = load_records(text, "yaml")

    assert records[0]["trigger"]["run_at"] == "2026-12-01T09:00:00"


def test_a_bare_list_of_records_is_accepted() -> None:
    assert load_records(json.dumps([RECORD]), "json") == [RECORD]


def test_exports_are_written_as_version_2() -> None:
    assert json.loads(dump_document([RECORD], "json"))["version"] == 2


OLD_NUMBERED_TRIGGER = {
    "type": "or",
    "triggers": [
        {"type": "cron", "day_of_week": "0-4", "hour": "9"},
        {"type": "cron", "day_of_week": 6, "hour": "10"},
        {"type": "cron", "expression": "0 9 * * 0"},
    ],
}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_version_1_document_has_its_apscheduler3_weekday_numbers_renamed_to_the_same_days(fmt: str) -> None:
    document = {"version": 1, "schedules": [{**RECORD, "trigger": OLD_NUMBERED_TRIGGER}]}
    text = json.dumps(document)  # JSON is YAML too

    records = load_records(text, fmt)

    assert records[0]["trigger"] == {
        "type": "or",
        "triggers": [
            {"type": "cron", "day_of_week": "mon-fri", "hour": "9"},
            {"type": "cron", "day_of_week": "sun", "hour": "10"},
            {"type": "cron", "expression": "0 9 * * 0"},
        ],
    }


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"version": 2, "schedules": [{**RECORD, "trigger": OLD_NUMBERED_TRIGGER}]}),
        json.dumps([{**RECORD, "trigger": OLD_NUMBERED_TRIGGER}]),
    ],
    ids=["a version 2 document", "a bare list"],
)
def test_current_documents_keep_their_weekday_numbers(text: str) -> None:
    assert load_records(text, "json")[0]["trigger"] == OLD_NUMBERED_TRIGGER


def test_a_version_1_record_without_trigger_is_left_for_validation() -> None:
    records = load_records(json.dumps({"version": 1, "schedules": [{"name": "a"}]}), "json")

    assert records == [{"name": "a"}]


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("{not json", "json", "not valid JSON"),
        ("a: [b", "yaml", "not valid YAML"),
        ('{"version": 3, "schedules": []}', "json", "unsupported document version 3"),
        ('{"schedule": []}', "json", "unknown top-level key"),
        ('{"schedules": [1]}', "json", "schedule #1 is not an object"),
        ('"text"', "json", "expected a list of schedules"),
    ],
    ids=[
        "broken json is named as json",
        "broken yaml is named as yaml",
        "a future document version is refused",
        "a misspelt top-level key is refused",
        "a record that is no object is refused by position",
        "a document that is neither list nor object is refused",
    ],
)
def test_bad_documents_are_refused_with_a_clear_reason(text: str, fmt: str, message: str) -> None:
    with pytest.raises(TransferFormatError, match=message):
        load_records(text, fmt)


@pytest.mark.parametrize(
    ("options", "trigger"),
    [
        ("every = 10 minutes", {"type": "interval", "minutes": 10}),
        ("every = 1 hour 30 minutes", {"type": "interval", "hours": 1, "minutes": 30}),
        ("every = 1.5 seconds", {"type": "interval", "seconds": 1.5}),
        ("at = 09:30", {"type": "cron", "hour": "9", "minute": "30", "second": "0"}),
        (
            "every = 2 days\nat = 07:05:09",
            {"type": "calendarinterval", "days": 2, "hour": 7, "minute": 5, "second": 9},
        ),
        (
            "every = 1 week\nat = 23:00",
            {"type": "calendarinterval", "weeks": 1, "hour": 23, "minute": 0, "second": 0},
        ),
    ],
    ids=[
        "every ten minutes is an interval",
        "several units add up in one interval",
        "a fractional amount is kept",
        "at alone runs every day at that time",
        "every n days at a time is a calendar interval",
        "every week at a time is a calendar interval",
    ],
)
def test_ini_sections_become_triggers(options: str, trigger: dict[str, object]) -> None:
    records = parse_ini(f"[job]\ncall = proj.tasks.job\n{options}\n")

    assert records == [{"name": "job", "task": "proj.tasks.job", "trigger": trigger, "kwargs": {}}]


def test_ini_extra_keys_become_kwargs_with_json_values_and_case_kept() -> None:
    text = (
        "[mail]\ncall = proj.mail\nevery = 1 hour\ntimezone = Europe/Paris\ndescription = Sends mail\n"
        'Recipients = ["a@b.c"]\nretries = 3\nsubject = Hello there\n'
    )

    (record,) = parse_ini(text)

    assert record["timezone"] == "Europe/Paris"
    assert record["description"] == "Sends mail"
    assert record["kwargs"] == {"Recipients": ["a@b.c"], "retries": 3, "subject": "Hello there"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("every = 10 minutes", r"\[job\]: 'call = dotted.task.name' \(or 'callback = ...'\) is required"),
        ("call = t", r"\[job\]: say when it runs"),
        ("call = t\nevery = soon", r"\[job\]: every = 'soon' is not like"),
        ("call = t\nevery = 3 fortnights", r"\[job\]: unknown unit 'fortnights'"),
        ("call = t\nat = 9h30", r"\[job\]: at = '9h30' is not a time"),
        ("call = t\nat = 25:00", r"\[job\]: at = '25:00' is not a time of day"),
        (
            "call = t\nevery = 5 minutes\nat = 09:00",
            r"\[job\]: 'at' goes with an 'every' counted in days or weeks",
        ),
        ("call = t\nevery = 5 minutes\nqueue = reports", r"\[job\]: 'queue' is a schedule field, which an INI"),
        ("call = t\nevery = 5 minutes\nmax_instances = 2", r"\[job\]: 'max_instances' is a schedule field"),
    ],
    ids=[
        "a section without call is refused",
        "a section without every or at is refused",
        "an every without amounts is refused",
        "an unknown unit is refused by name",
        "a malformed time is refused",
        "an hour past 23 is refused",
        "at with an every in minutes is refused as ambiguous",
        "a schedule field is refused rather than passed as a keyword argument",
        "a policy field is refused too",
    ],
)
def test_ini_mistakes_name_the_section_and_the_problem(options: str, message: str) -> None:
    with pytest.raises(TransferFormatError, match=message):
        parse_ini(f"[job]\n{options}\n")


@pytest.mark.parametrize(
    ("options", "trigger"),
    [
        ("every = sunday\nat = 23:30", {"day_of_week": "sun", "hour": "23", "minute": "30", "second": "0"}),
        ("every = Monday", {"day_of_week": "mon", "hour": "0", "minute": "0", "second": "0"}),
        ("every = FRIDAY\nat = 06:15:45", {"day_of_week": "fri", "hour": "6", "minute": "15", "second": "45"}),
    ],
    ids=[
        "a weekday at a time runs weekly on that day at that time",
        "a weekday without at runs at midnight",
        "a weekday is read in any case and at keeps its seconds",
    ],
)
def test_ini_weekday_frequencies_become_weekly_cron_triggers(options: str, trigger: dict[str, str]) -> None:
    (record,) = parse_ini(f"[job]\ncall = proj.tasks.job\n{options}\n")

    assert record["trigger"] == {"type": "cron", **trigger}
    assert validate_trigger_spec(record["trigger"]) == record["trigger"]


def test_ini_superdjango_spellings_callback_and_frequency_are_call_and_every() -> None:
    (aliased,) = parse_ini("[job]\ncallback = proj.tasks.job\nfrequency = 5 minutes\n")
    (plain,) = parse_ini("[job]\ncall = proj.tasks.job\nevery = 5 minutes\n")

    assert aliased == plain
    assert aliased["kwargs"] == {}


@pytest.mark.parametrize(
    ("value", "paused"),
    [
        ("no", True),
        ("No", True),
        ("false", True),
        ("OFF", True),
        ("0", True),
        ("yes", False),
        ("True", False),
        ("on", False),
        ("1", False),
    ],
)
def test_ini_active_sets_paused_and_is_no_keyword_argument(value: str, paused: bool) -> None:
    (record,) = parse_ini(f"[job]\nactive = {value}\ncall = t\nevery = 1 hour\n")

    assert record["paused"] is paused
    assert record["kwargs"] == {}


def test_ini_without_active_leaves_paused_to_the_default() -> None:
    (record,) = parse_ini("[job]\ncall = t\nevery = 1 hour\n")

    assert "paused" not in record


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("True", True),
        ("FALSE", False),
        ("none", None),
        ("null", None),
        ("true", True),
        ("3", 3),
        ("-2.5", -2.5),
        ("[1, 2]", [1, 2]),
        ('{"a": "b"}', {"a": "b"}),
        ('"True"', "True"),
        ("yes", "yes"),
        ("Hello there", "Hello there"),
        ("007", "007"),
    ],
    ids=[
        "True is a boolean",
        "FALSE in capitals is a boolean",
        "none in any case is None",
        "JSON null is None",
        "JSON true is a boolean",
        "an integer is a number",
        "a float is a number",
        "a JSON list is a list",
        "a JSON object is an object",
        "a quoted string stays text",
        "yes is text for keyword arguments (only active reads it)",
        "plain words stay text",
        "a number with a leading zero stays text",
    ],
)
def test_ini_keyword_argument_values_are_typed(text: str, value: object) -> None:
    (record,) = parse_ini(f"[job]\ncall = t\nevery = 1 hour\nflag = {text}\n")

    assert record["kwargs"] == {"flag": value}
    assert type(record["kwargs"]["flag"]) is type(value)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("call = t\ncallback = u\nevery = 1 hour", r"^\[job\]: 'call' and 'callback' are the same key; keep one"),
        ("call = t\nevery = 1 hour\nfrequency = 2 hours", r"^\[job\]: 'every' and 'frequency' are the same key"),
        ("call = t\nevery = 1 hour\nactive = maybe", r"^\[job\]: active = 'maybe' is not yes/no"),
        ("call = t\nevery = 1 hour\nactive =", r"^\[job\]: active = '' is not yes/no"),
        ("frequency = 1 hour", r"^\[job\]: 'call = dotted.task.name' \(or 'callback = ...'\) is required"),
        ("call = t\nevery = sundays", r"^\[job\]: every = 'sundays' is not like .* or 'sunday'"),
        ("call = t\nevery = 2 sundays", r"^\[job\]: unknown unit 'sundays' .* or a weekday"),
        ("call = t\nevery = sunday\nat = 24:00", r"^\[job\]: at = '24:00' is not a time of day"),
    ],
    ids=[
        "call and callback together are refused naming both",
        "every and frequency together are refused naming both",
        "an unknown active value is refused with the value",
        "an empty active value is refused",
        "a section without call or callback is refused",
        "a plural weekday is not a frequency",
        "a counted weekday is an unknown unit",
        "a weekday with a bad at is refused",
    ],
)
def test_ini_superdjango_mistakes_name_the_section_key_and_reason(options: str, message: str) -> None:
    with pytest.raises(TransferFormatError, match=message):
        parse_ini(f"[job]\n{options}\n")


def test_ini_syntax_errors_are_reported_as_such() -> None:
    with pytest.raises(TransferFormatError, match="not a valid INI file"):
        parse_ini("call = outside any section\n")


def _definition(schedule: object, **extra: object) -> str:
    return json.dumps({"name": "job", "task": "proj.job", "args": [1], "kwargs": {}, "schedule": schedule, **extra})


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            {"__type__": "interval", "every": 90.0, "relative": False},
            {"trigger": {"type": "interval", "seconds": 90}},
        ),
        (
            {
                "__type__": "crontab",
                "minute": "*/5",
                "hour": "8-18",
                "day_of_week": "mon-fri",
                "day_of_month": "*",
                "month_of_year": "*",
            },
            {"trigger": {"type": "cron", "expression": "*/5 8-18 * * mon-fri"}},
        ),
        (
            {"__type__": "rrule", "freq": 3, "interval": 2, "dtstart": 1767258000, "dtstart_tz": 60},
            {
                "trigger": {"type": "interval", "days": 2},
                "start_at": datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc),
                "timezone": "UTC",
            },
        ),
        (
            {"__type__": "rrule", "freq": 1, "interval": 1, "dtstart": 1767258000, "until": 1798794000},
            {
                "trigger": {"type": "calendarinterval", "months": 1, "hour": 9, "minute": 0, "second": 0},
                "start_at": datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc),
                "end_at": datetime(2027, 1, 1, 9, 0, tzinfo=timezone.utc),
                "timezone": "UTC",
            },
        ),
    ],
    ids=[
        "an interval entry becomes an interval trigger",
        "a crontab entry becomes a five-field cron expression",
        "a daily rrule becomes an interval starting at dtstart",
        "a monthly rrule becomes a calendar interval ending at until",
    ],
)
def test_redbeat_schedules_become_triggers(schedule: dict[str, object], expected: dict[str, object]) -> None:
    draft = draft_from_entry("redbeat:job", _definition(schedule), None)

    if "trigger" in expected:
        expected = {**expected, "trigger": validate_trigger_spec(expected["trigger"])}  # type: ignore[arg-type]

    assert {field: draft.fields[field] for field in expected} == expected


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (_definition({"__type__": "rrule", "freq": 3, "dtstart": 0, "byhour": [9]}), "BYHOUR"),
        (_definition({"__type__": "rrule", "freq": 3, "dtstart": 0, "count": 3}), "COUNT"),
        (_definition({"__type__": "solar", "event": "sunset"}), "unsupported schedule type 'solar'"),
        (_definition({"__type__": "interval", "every": 5}, options={"countdown": 3}), "countdown"),
        (_definition({"__type__": "interval", "every": 0}), "valid trigger"),
        ("{broken", "not valid JSON"),
    ],
    ids=[
        "an rrule with BYHOUR is unsupported",
        "an rrule with COUNT is unsupported",
        "an unknown schedule type is unsupported",
        "a message option without a column is unsupported",
        "a zero interval is unsupported",
        "broken JSON is unsupported",
    ],
)
def test_redbeat_entries_that_cannot_be_mapped_say_why(definition: str, message: str) -> None:
    with pytest.raises(Unmappable, match=message):
        draft_from_entry("redbeat:job", definition, None)


def test_redbeat_entry_keeps_options_enabled_flag_and_last_run() -> None:
    meta = json.dumps(
        {
            "last_run_at": {
                "__type__": "datetime",
                "year": 2026,
                "month": 3,
                "day": 1,
                "hour": 8,
                "minute": 0,
                "second": 0,
                "microsecond": 0,
                "timezone": 3600.0,
            }
        }
    )
    definition = _definition(
        {"__type__": "interval", "every": 60, "relative": False},
        enabled=False,
        options={"queue": "slow", "priority": 3, "expires": 30},
    )

    draft = draft_from_entry("redbeat:job", definition, meta)

    assert draft.fields["paused"] is True
    assert (draft.fields["queue"], draft.fields["priority"], draft.fields["expires"]) == ("slow", 3, 30.0)
    assert draft.last_fire_at == datetime(2026, 3, 1, 7, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("zone", "offset"),
    [("UTC", timedelta(0)), ("Europe/Paris", timedelta(hours=1)), (-18000.0, timedelta(hours=-5))],
    ids=["a zone name is read as that zone", "an IANA zone keeps its offset", "seconds are a fixed offset"],
)
def test_redbeat_datetimes_are_aware(zone: object, offset: timedelta) -> None:
    value = {
        "__type__": "datetime",
        "year": 2026,
        "month": 1,
        "day": 5,
        "hour": 12,
        "minute": 0,
        "second": 0,
        "microsecond": 0,
        "timezone": zone,
    }

    decoded = decode_datetime(value)

    assert decoded.utcoffset() == offset
    assert (decoded.hour, decoded.minute) == (12, 0)


def test_ini_comments_after_a_value_are_not_part_of_it() -> None:
    text = "[report]\ncall = proj.tasks.report  ; the task\nevery = 10 minutes  # how often\n"

    (record,) = parse_ini(text)

    assert record["task"] == "proj.tasks.report"
    assert record["trigger"] == parse_ini("[r]\ncall = x\nevery = 10 minutes\n")[0]["trigger"]
