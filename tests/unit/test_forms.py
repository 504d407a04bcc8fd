"""The admin's forms without a database: trigger editor, JSON fields, preview warnings, ages, run chart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from beat_store.admin.chart import ChartRun, render_run_chart
from beat_store.forms.fields import JSONTextField, WallTimeWidget, time_zone_names
from beat_store.forms.preview import preview_fire_times
from beat_store.forms.triggers import TriggerEditor, initial_from_spec
from beat_store.pruning import parse_age
from beat_store.triggers import build_trigger

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
MEMBERS_MANAGEMENT = {
    "trigger_members-TOTAL_FORMS": "2",
    "trigger_members-INITIAL_FORMS": "0",
    "trigger_members-MIN_NUM_FORMS": "0",
    "trigger_members-MAX_NUM_FORMS": "20",
}


ONE_MEMBER = {"trigger__kind": "or", "trigger_members__0__kind": "cron", "trigger_members__0__cron_hour": "9"}


def editor_for(**fields: str) -> TriggerEditor:
    data = {**MEMBERS_MANAGEMENT, **{key.replace("__", "-"): value for key, value in fields.items()}}
    return TriggerEditor(data, spec=None)


@pytest.mark.parametrize(
    ("fields", "spec"),
    [
        (
            {"trigger__kind": "cron", "trigger__cron_expression": " */5  * * * * "},
            {"type": "cron", "expression": "*/5 * * * *"},
        ),
        (
            {"trigger__kind": "cron", "trigger__cron_minute": "0", "trigger__cron_hour": "9"},
            {"type": "cron", "hour": "9", "minute": "0"},
        ),
        (
            {"trigger__kind": "interval", "trigger__interval_seconds": "1.5"},
            {"type": "interval", "weeks": 0, "days": 0, "hours": 0, "minutes": 0, "seconds": 1.5},
        ),
        (
            {"trigger__kind": "date", "trigger__date_run_at": "2026-12-01 09:00"},
            {"type": "date", "run_at": "2026-12-01T09:00:00"},
        ),
        (
            {
                "trigger__kind": "spec",
                "trigger__spec_json": '{"type": "or", "triggers": [{"type": "cron", "hour": "1"}]}',
            },
            {"type": "or", "triggers": [{"type": "cron", "hour": "1"}]},
        ),
        (
            {
                "trigger__kind": "or",
                "trigger_members__1__kind": "cron",
                "trigger_members__1__cron_expression": "0 0 * * *",
            },
            {"type": "or", "triggers": [{"type": "cron", "expression": "0 0 * * *"}]},
        ),
        (
            {
                "trigger__kind": "and",
                "trigger__and_threshold": "30",
                "trigger__and_max_iterations": "100",
                "trigger_members__0__kind": "cron",
                "trigger_members__0__cron_expression": "0 9 * * 1-5",
                "trigger_members__0__member_start_at": " 2026-01-01 09:00 ",
                "trigger_members__0__member_end_at": "2026-06-01 00:00+02:00",
                "trigger_members__0__member_timezone": "Asia/Tokyo",
            },
            {
                "type": "and",
                "triggers": [
                    {
                        "type": "cron",
                        "expression": "0 9 * * 1-5",
                        "start_at": "2026-01-01T09:00:00",
                        "end_at": "2026-06-01T00:00:00+02:00",
                        "timezone": "Asia/Tokyo",
                    }
                ],
                "threshold": 30,
                "max_iterations": 100,
            },
        ),
        (
            {
                "trigger__kind": "or",
                "trigger_members__0__kind": "spec",
                "trigger_members__0__spec_json": '{"type": "cron", "hour": "1"}',
                "trigger_members__0__member_timezone": "UTC",
            },
            {"type": "or", "triggers": [{"type": "cron", "hour": "1", "timezone": "UTC"}]},
        ),
    ],
    ids=[
        "a crontab line is normalised",
        "cron fields left empty are left out",
        "interval parts may be fractions",
        "a date is an ISO wall time",
        "a JSON spec is taken as is",
        "an unused member row is ignored",
        "and options and a member's own bounds and zone",
        "a JSON member takes the member fields too",
    ],
)
def test_editor_builds_the_spec(fields: dict[str, str], spec: dict[str, Any]) -> None:
    editor = editor_for(**fields)

    assert editor.is_valid()
    assert editor.spec == spec


@pytest.mark.parametrize(
    ("fields", "form", "field", "message"),
    [
        (
            {"trigger__kind": "cron", "trigger__cron_hour": "24"},
            "top",
            "cron_hour",
            "higher than the maximum value (23)",
        ),
        (
            {
                "trigger__kind": "calendarinterval",
                "trigger__calendar_months": "1",
                "trigger__calendar_hour": "30",
            },
            "top",
            "calendar_hour",
            "Must be between 0 and 23",
        ),
        (
            {"trigger__kind": "calendarinterval"},
            "top",
            "__all__",
            "A calendar interval needs at least one of",
        ),
        (
            {"trigger__kind": "spec", "trigger__spec_json": '{"type": "cron", "hour": "99"}'},
            "top",
            "spec_json",
            "hour: ",
        ),
        (
            {"trigger__kind": "spec", "trigger__spec_json": "[1]"},
            "top",
            "spec_json",
            "must be a JSON object, not a list",
        ),
        ({"trigger__kind": "and"}, "top", "kind", "An 'and' trigger needs at least one member trigger"),
        (
            {"trigger__kind": "or", "trigger_members__0__kind": "interval"},
            "member 0",
            "__all__",
            "longer than zero",
        ),
        (
            {
                "trigger__kind": "or",
                "trigger_members__0__kind": "date",
                "trigger_members__0__date_run_at": "soon",
            },
            "member 0",
            "date_run_at",
            "is not an ISO 8601 date-time",
        ),
        (
            {**ONE_MEMBER, "trigger_members__0__member_timezone": "Nowhere/Land"},
            "member 0",
            "member_timezone",
            "Unknown time zone 'Nowhere/Land'.",
        ),
        (
            {
                **ONE_MEMBER,
                "trigger_members__0__member_start_at": "2026-02-01 00:00",
                "trigger_members__0__member_end_at": "2026-01-01 00:00",
            },
            "member 0",
            "member_end_at",
            "Must not be earlier than start_at.",
        ),
        (
            {
                "trigger__kind": "or",
                "trigger_members__0__kind": "spec",
                "trigger_members__0__spec_json": '{"type": "cron", "hour": "1", "start_at": "soon"}',
            },
            "member 0",
            "spec_json",
            "start_at: 'soon' is not an ISO 8601 date-time",
        ),
        (
            {
                "trigger__kind": "or",
                "trigger_members__0__kind": "spec",
                "trigger_members__0__spec_json": '{"type": "cron", "hour": "1", "timezone": "UTC"}',
                "trigger_members__0__member_timezone": "UTC",
            },
            "member 0",
            "member_timezone",
            "The JSON spec sets timezone too",
        ),
        ({**ONE_MEMBER, "trigger__kind": "and", "trigger__and_threshold": "90000"}, "top", "and_threshold", "86400"),
    ],
    ids=[
        "a cron hour out of range goes to the hour box",
        "a calendar hour out of range goes to its box",
        "a calendar interval without a step is a form error",
        "a bad field in a JSON spec names its path",
        "a JSON spec that is a list",
        "an empty and points at the type",
        "a zero interval member is that member's error",
        "a bad date in a member goes to that member's box",
        "a member's unknown zone goes to its zone box",
        "a member's end before its start goes to its end box",
        "a member's start in its JSON spec is reported in the JSON box",
        "a member bound in both the JSON and its box is refused",
        "a threshold over a day goes to the threshold box",
    ],
)
def test_editor_puts_each_error_next_to_its_field(fields: dict[str, str], form: str, field: str, message: str) -> None:
    editor = editor_for(**fields)

    valid = editor.is_valid()

    target = editor.form if form == "top" else editor.members.forms[int(form.split()[1])]
    assert not valid
    assert any(message in text for text in target.errors.get(field, [])), target.errors


def test_editor_shows_a_saved_combination_as_member_rows() -> None:
    spec = {
        "type": "or",
        "triggers": [
            {"type": "cron", "hour": "9"},
            {"type": "and", "triggers": [{"type": "cron", "hour": "1"}]},
        ],
    }

    editor = TriggerEditor(None, spec=spec)

    assert editor.form.initial == {"kind": "or"}
    assert editor.members.forms[0].initial == {"kind": "cron", "cron_hour": "9"}
    assert editor.members.forms[1].initial["kind"] == "spec"
    assert len(editor.members.forms) == 4  # two members and two empty rows


def test_and_options_and_member_options_are_shown_for_editing() -> None:
    spec = {
        "type": "and",
        "threshold": 2.5,
        "max_iterations": 50,
        "triggers": [{"type": "cron", "hour": "9", "timezone": "Asia/Tokyo", "end_at": "2027-01-01T00:00:00"}],
    }

    editor = TriggerEditor(None, spec=spec)

    assert editor.form.initial == {"kind": "and", "and_threshold": 2.5, "and_max_iterations": 50}
    assert editor.members.forms[0].initial == {
        "kind": "cron",
        "cron_hour": "9",
        "member_timezone": "Asia/Tokyo",
        "member_end_at": "2027-01-01 00:00:00",
    }
    assert "member_timezone" not in editor.form.fields
    assert "and_threshold" not in editor.members.forms[0].fields


def test_a_date_is_shown_with_a_space_for_editing() -> None:
    assert initial_from_spec({"type": "date", "run_at": "2026-12-01T09:00:00"}) == {
        "kind": "date",
        "date_run_at": "2026-12-01 09:00:00",
    }


@pytest.mark.parametrize(
    ("text", "expected", "message"),
    [
        ("[1, 2", None, "Not valid JSON: Expecting ',' delimiter at line 1, column 6"),
        ('{"a": 1}', None, "must be a JSON list"),
        ("", [], None),
        ('[1, "two"]', [1, "two"], None),
    ],
    ids=["broken JSON says where", "an object where a list is wanted", "empty means no arguments", "a list"],
)
def test_json_text_field(text: str, expected: Any, message: str | None) -> None:
    field = JSONTextField(expected=list, label_for_errors="Positional arguments", example="[1]")

    if message is None:
        assert field.clean(text) == expected
    else:
        with pytest.raises(ValidationError, match=message):
            field.clean(text)


def preview_of(spec: dict[str, Any], *, now: datetime, zone: ZoneInfo = PARIS, start_at: datetime | None = None) -> Any:
    trigger = build_trigger(spec, timezone=zone, anchor=start_at or now, start_at=start_at)
    return preview_fire_times(trigger, spec, zone=zone, zone_name=str(zone), now=now)


def test_preview_lists_ten_fire_times_in_the_zone() -> None:
    preview = preview_of({"type": "cron", "expression": "0 9 * * *"}, now=datetime(2026, 1, 1, tzinfo=UTC))

    assert preview.shown_fire_times[0] == "Thu 2026-01-01 09:00:00 CET"
    assert len(preview.fire_times) == 10
    assert preview.warnings == []


def test_preview_warns_of_a_fire_time_after_a_dst_gap() -> None:
    preview = preview_of({"type": "cron", "expression": "30 2 * * *"}, now=datetime(2026, 3, 28, tzinfo=UTC))

    assert "Sun 2026-03-29 03:00:00 CEST" in preview.shown_fire_times
    assert any("2026-03-29 03:00 CEST" in text and "DST gap" in text for text in preview.warnings)


def test_preview_warns_of_a_fire_time_in_a_dst_fold() -> None:
    preview = preview_of({"type": "cron", "expression": "30 2 * * *"}, now=datetime(2026, 10, 24, tzinfo=UTC))

    assert any("2026-10-25 02:30 CEST" in text and "DST fold" in text for text in preview.warnings)


def test_preview_warns_that_a_calendar_interval_on_day_31_skips_months() -> None:
    start = datetime(2026, 1, 31, 10, tzinfo=PARIS)

    preview = preview_of({"type": "calendarinterval", "months": 1, "hour": 10}, now=start, start_at=start)

    [warning] = preview.warnings
    assert "day 31" in warning
    assert "2026-02" in warning
    assert "2026-04" in warning


def test_preview_warns_of_a_dst_gap_in_a_members_zone_naming_it() -> None:
    spec = {"type": "or", "triggers": [{"type": "cron", "hour": "3", "timezone": "America/New_York"}]}
    trigger = build_trigger(spec, timezone="UTC", anchor=datetime(2026, 3, 7, tzinfo=UTC))

    preview = preview_fire_times(
        trigger, spec, zone=ZoneInfo("UTC"), zone_name="UTC", now=datetime(2026, 3, 7, tzinfo=UTC)
    )

    assert preview.warnings == [
        "2026-03-08 07:00 UTC (03:00 in America/New_York, a member's zone) is the first instant after the clocks "
        "went forward (DST gap): the wall times just before it do not exist that day, so a time named in the gap "
        "fires here instead."
    ]


def test_preview_reports_an_and_trigger_that_gives_up_instead_of_raising() -> None:
    spec = {
        "type": "and",
        "triggers": [
            {"type": "cron", "expression": "0 9 * * *"},
            {"type": "cron", "expression": "0 10 * * *"},
        ],
        "max_iterations": 100,  # gives up before the time budget runs out
    }

    preview = preview_of(spec, now=datetime(2026, 1, 1, tzinfo=UTC))

    assert preview.fire_times == []
    assert preview.error is not None
    assert preview.error.startswith("The trigger gave up")


@pytest.mark.parametrize(
    ("text", "age"),
    [
        ("7d", timedelta(days=7)),
        ("12h", timedelta(hours=12)),
        (" 30m ", timedelta(minutes=30)),
        ("2W", timedelta(weeks=2)),
    ],
    ids=["days", "hours", "minutes with spaces", "weeks in capitals"],
)
def test_parse_age_reads_an_amount_and_a_unit(text: str, age: timedelta) -> None:
    assert parse_age(text) == age


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("7", "is not an age"),
        ("7 days", "is not an age"),
        ("", "is not an age"),
        ("0d", "is zero"),
        ("-1d", "is not an age"),
    ],
    ids=["no unit", "a word unit", "nothing", "zero", "negative"],
)
def test_parse_age_refuses_what_it_cannot_read(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_age(text)


def test_run_chart_draws_one_bar_per_run_scaled_to_the_longest() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    runs = [
        ChartRun(moment, "succeeded", 10.0),
        ChartRun(moment, "failed", 5.0),
        ChartRun(moment, "missed", None),
    ]

    svg = str(render_run_chart(runs))

    assert svg.count("<rect") == 3
    assert 'height="120.0" fill="#2e8540"' in svg  # the longest run fills the chart
    assert 'height="60.0" fill="#ba2121"' in svg
    assert 'height="4.0" fill="#d9822b"' in svg  # a run without duration keeps a stub
    assert "2026-01-01 00:00:00 UTC: missed, —" in svg


def test_run_chart_of_no_runs_is_empty() -> None:
    assert render_run_chart([]) == ""


def test_time_zone_suggestions_are_zones_a_person_would_pick() -> None:
    names = time_zone_names()

    assert {"Europe/Paris", "UTC", "America/New_York"} <= set(names)
    assert not {"Factory", "localtime", "posixrules"} & set(names)
    assert not [name for name in names if name.startswith(("posix/", "right/"))]


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"run_at_0": "2026-12-01", "run_at_1": "09:00"}, "2026-12-01 09:00"),
        ({"run_at_0": "2026-12-01", "run_at_1": "09:00:00+01:00"}, "2026-12-01 09:00:00+01:00"),
        ({"run_at_0": "", "run_at_1": ""}, ""),
        ({"run_at": "2026-12-01T09:00"}, "2026-12-01T09:00"),
    ],
    ids=[
        "the date and time pickers give a wall time as text",
        "an offset typed after the time is kept",
        "empty pickers give nothing",
        "one text value is still read",
    ],
)
def test_run_at_pickers_read_a_wall_time_without_converting_it(data: dict[str, str], text: str) -> None:
    assert WallTimeWidget().value_from_datadict(data, {}, "run_at") == text


def test_run_at_pickers_show_a_saved_wall_time_as_date_and_time() -> None:
    assert WallTimeWidget().decompress("2026-12-01T09:00:00") == ["2026-12-01", "09:00:00"]
