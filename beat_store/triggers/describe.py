"""One sentence per trigger spec, for the admin: "At 09:00, Monday through Friday (Europe/Paris)"."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
from apscheduler.triggers.cron.fields import BaseField

from beat_store.exceptions import InvalidTrigger
from beat_store.triggers.base import UTC
from beat_store.triggers.build import resolve_zone
from beat_store.triggers.cron import fields_of
from beat_store.triggers.spec import CALENDAR_STEPS, INTERVAL_UNITS, parse_run_at, validate_trigger_spec

WEEKDAY_NAMES = tuple(calendar.day_name)  # Monday first, like date.weekday()
A_MONDAY = date(2024, 1, 1)


def describe_trigger(spec: Mapping[str, Any], timezone: str) -> str:
    """A human-readable sentence for ``spec``, naming ``timezone`` where the wall clock matters.

    An invalid spec is described as ``"Invalid trigger: <field>: <reason>"`` rather than raised, so that one
    bad row never breaks an admin page.
    """
    try:
        normalised = validate_trigger_spec(spec)
    except InvalidTrigger as error:
        return f"Invalid trigger: {error}"
    return _describe(normalised, timezone)


def _describe(spec: Mapping[str, Any], timezone: str) -> str:
    timezone = spec.get("timezone", timezone)  # a member's own zone
    return _describe_kind(spec, timezone) + _describe_bounds(spec)


def _describe_bounds(spec: Mapping[str, Any]) -> str:
    parts = [f"{word} {_moment(spec[key])}" for key, word in (("start_at", "from"), ("end_at", "until")) if key in spec]
    return f", {' '.join(parts)}" if parts else ""


def _moment(text: str) -> str:
    moment = parse_run_at(text)
    offset = moment.strftime("%z") if moment.utcoffset() is not None else ""
    return f"{moment:%Y-%m-%d} {_clock(moment)}{offset[:3] + ':' + offset[3:] if offset else ''}"


def _describe_kind(spec: Mapping[str, Any], timezone: str) -> str:
    kind = spec["type"]
    if kind == "interval":
        return f"Every {_amounts(spec, INTERVAL_UNITS)}"
    if kind == "date":
        return _describe_date(spec, timezone)
    if kind == "cron":
        return f"{_describe_cron(spec)} ({timezone})"
    if kind == "calendarinterval":
        return _describe_calendar_interval(spec, timezone)
    members = [_describe(member, timezone) for member in spec["triggers"]]
    members = [
        f"({text})" if member["type"] in ("or", "and") else text
        for member, text in zip(spec["triggers"], members, strict=True)
    ]
    if kind == "or":
        return f"Any of: {'; '.join(members)}"
    options = [f"within {spec['threshold']:g} s"] if "threshold" in spec else []
    options += [f"at most {spec['max_iterations']:,} tries"] if "max_iterations" in spec else []
    heading = f"All of ({', '.join(options)})" if options else "All of"
    return f"{heading}: {'; '.join(members)}"


def _amounts(spec: Mapping[str, Any], units: tuple[str, ...]) -> str:
    parts = [f"{spec[unit]:g} {unit[:-1] if spec[unit] == 1 else unit}" for unit in units if spec[unit]]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _clock(moment: time | datetime) -> str:
    return moment.strftime("%H:%M:%S" if moment.second else "%H:%M")


def _describe_date(spec: Mapping[str, Any], timezone: str) -> str:
    run_at = parse_run_at(spec["run_at"])
    if run_at.utcoffset() is not None:
        run_at = run_at.astimezone(resolve_zone(timezone))
    return f"Once, at {run_at:%Y-%m-%d} {_clock(run_at)} ({timezone})"


def _describe_calendar_interval(spec: Mapping[str, Any], timezone: str) -> str:
    same_day = (spec["years"] or spec["months"]) and not (spec["weeks"] or spec["days"])
    at = _clock(time(spec["hour"], spec["minute"], spec["second"]))
    return f"Every {_amounts(spec, CALENDAR_STEPS)}{' on the same day' if same_day else ''} at {at} ({timezone})"


def _describe_cron(spec: Mapping[str, Any]) -> str:
    fields = {field.name: field for field in APSCronTrigger(**fields_of(spec), timezone=UTC).fields}
    parts = [_describe_time_of_day(fields["hour"], fields["minute"], fields["second"])]
    parts += _describe_days(fields)
    return ", ".join(parts)


def _single_value(field: BaseField) -> int | None:
    text = str(field)
    return int(text) if text.isdigit() else None


def _describe_time_of_day(hour: BaseField, minute: BaseField, second: BaseField) -> str:
    single = [_single_value(field) for field in (hour, minute, second)]
    if None not in single:
        return f"At {_clock(time(*single))}"  # type: ignore[arg-type]
    texts = {field.name: str(field) for field in (hour, minute, second)}
    if texts["hour"] == "*" and texts["minute"] == "*" and texts["second"].startswith("*"):
        return _every(texts["second"], "second")
    if texts["hour"] == "*" and texts["minute"].startswith("*") and texts["second"] == "0":
        return _every(texts["minute"], "minute")
    if texts["hour"].startswith("*") and texts["minute"] == "0" and texts["second"] == "0":
        return _every(texts["hour"], "hour")
    wanted = [name for name in ("second", "minute", "hour") if not (name == "second" and texts[name] == "0")]
    return "At " + ", ".join(f"{name} {texts[name]}" for name in wanted)


def _every(text: str, unit: str) -> str:
    step = text.partition("/")[2]
    return f"Every {step} {unit}s" if step and step != "1" else f"Every {unit}"


def _describe_days(fields: Mapping[str, BaseField]) -> list[str]:
    parts = []
    weekdays = [day for day in range(7) if _matches(fields["day_of_week"], A_MONDAY + timedelta(days=day))]
    if len(weekdays) < 7:
        parts.append(_weekday_phrase(weekdays))
    day = str(fields["day"])
    if day != "*":
        parts.append("on the last day of the month" if day == "last" else f"on day {day} of the month")
    month = str(fields["month"])
    if month != "*":
        parts.append(f"in {calendar.month_name[int(month)] if month.isdigit() else month}")
    if str(fields["week"]) != "*":
        parts.append(f"in ISO week {fields['week']}")
    if str(fields["year"]) != "*":
        parts.append(f"in {fields['year']}")
    return parts


def _matches(field: BaseField, day: date) -> bool:
    return bool(field.get_next_value(day) == field.get_value(day))


def _weekday_phrase(weekdays: list[int]) -> str:
    names = [WEEKDAY_NAMES[day] for day in weekdays]
    if len(weekdays) > 2 and weekdays == list(range(weekdays[0], weekdays[-1] + 1)):
        return f"{names[0]} through {names[-1]}"
    if len(names) == 1:
        return f"on {names[0]}"
    return f"on {', '.join(names[:-1])} and {names[-1]}"
