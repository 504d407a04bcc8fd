"""Validation and normalisation of JSON trigger specs (docs/spec.md "Trigger specs")."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from beat_store.exceptions import InvalidTrigger
from beat_store.limits import MAX_CRON_LENGTH, MAX_TRIGGER_MEMBERS, MAX_TRIGGER_NODES, LimitExceeded, check_moment
from beat_store.timezones import get_zone
from beat_store.triggers.cron_syntax import CRON_FIELD_NAMES, check_cron_field, crontab_to_fields

MAX_NESTING = 5
INTERVAL_UNITS = ("weeks", "days", "hours", "minutes", "seconds")
CALENDAR_STEPS = ("years", "months", "weeks", "days")
# Larger steps would jump past year 9999 in one go, where Python dates end.
CALENDAR_STEP_LIMITS = {"years": 9998, "months": 9998 * 12, "weeks": 9998 * 52, "days": 9998 * 365}
TIME_OF_DAY_LIMITS = {"hour": 23, "minute": 59, "second": 59}
TRIGGER_TYPES = ("date", "interval", "cron", "calendarinterval", "or", "and")
#: ``and`` options (APScheduler 4's names and defaults: 1 s, 10,000). The limits keep a tick bounded: 10,000
#: rounds of members that never agree cost about half a second, and a threshold over a day would let members
#: "agree" on fire times of different days.
AND_OPTIONS = ("threshold", "max_iterations")
MAX_AND_THRESHOLD = 86_400
MAX_AND_ITERATIONS = 10_000
#: What a member of an ``or``/``and`` may carry of its own (APScheduler 4 triggers carry ``start_time``,
#: ``end_time`` and ``timezone``; the spec says ``_at`` like the schedule's fields and ``run_at``).
MEMBER_OPTIONS = ("start_at", "end_at", "timezone")
_APSCHEDULER_NAMES = {"start_time": "start_at", "end_time": "end_at", "run_time": "run_at"}

Spec = dict[str, Any]


def validate_trigger_spec(spec: object) -> dict[str, Any]:
    """Return a normalised copy of ``spec`` or raise ``InvalidTrigger(field, reason)``.

    ``field`` is a dotted path into the spec (``"triggers.1.minute"``), or ``None`` when the spec as a whole
    is wrong. The copy has canonical keys: ``type`` first, every default of interval and calendarinterval
    filled in, cron field values as strings, ``run_at`` in ``datetime.isoformat()`` form.
    """
    _check_size(spec)
    return _validate(spec, path="", depth=0)


def _check_size(spec: object) -> None:
    """At most ``MAX_TRIGGER_NODES`` specs in the whole tree, counted before any is validated (iteratively:
    nesting past ``MAX_NESTING`` is refused by validation, with its path)."""
    nodes, stack = 0, [spec]
    while stack:
        node = stack.pop()
        nodes += 1
        if nodes > MAX_TRIGGER_NODES:
            raise InvalidTrigger(None, f"a trigger holds at most {MAX_TRIGGER_NODES} trigger specs in all")
        members = node.get("triggers") if isinstance(node, Mapping) else None
        if isinstance(members, list | tuple):
            stack.extend(members)


def join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate(spec: object, path: str, depth: int) -> Spec:
    if not isinstance(spec, Mapping):
        raise InvalidTrigger(path or None, f"a trigger spec must be a JSON object, not {_json_type(spec)}")
    for key in spec:
        if not isinstance(key, str):
            raise InvalidTrigger(join_path(path, str(key)), "field names must be strings")
    kind = spec.get("type")
    if kind is None:
        raise InvalidTrigger(join_path(path, "type"), f"required: one of {', '.join(TRIGGER_TYPES)}")
    if not isinstance(kind, str) or kind not in _VALIDATORS:
        raise InvalidTrigger(
            join_path(path, "type"),
            f"unknown trigger type {kind!r}; expected one of {', '.join(TRIGGER_TYPES)}",
        )
    options = {key: spec[key] for key in MEMBER_OPTIONS if key in spec}
    if options and depth == 0:
        key = next(iter(options))
        raise InvalidTrigger(
            key, f"only members of an 'or'/'and' carry their own {key}: set the schedule's {key} instead"
        )
    try:
        normalised = _VALIDATORS[kind]({key: value for key, value in spec.items() if key not in options}, path, depth)
    except InvalidTrigger as error:
        if depth == 0 or not error.reason.startswith("unknown field"):
            raise
        reason, hint, aps_name = error.reason.partition(" (APScheduler's")
        raise InvalidTrigger(
            error.field, f"{reason}, and as a member {', '.join(MEMBER_OPTIONS)}{hint}{aps_name}"
        ) from None
    return {**normalised, **_validate_member_options(options, path)}


def _validate_member_options(options: Mapping[str, Any], path: str) -> Spec:
    normalised: Spec = {}
    if "timezone" in options:
        field = join_path(path, "timezone")
        try:
            get_zone(options["timezone"])
        except InvalidTrigger as error:
            raise InvalidTrigger(field, error.reason) from None
        normalised["timezone"] = options["timezone"].strip()
    bounds = {key: parse_run_at(options[key], join_path(path, key)) for key in ("start_at", "end_at") if key in options}
    start_at, end_at = bounds.get("start_at"), bounds.get("end_at")
    if start_at is not None and end_at is not None and _comparable(start_at, end_at) and end_at < start_at:
        raise InvalidTrigger(join_path(path, "end_at"), "must not be earlier than start_at")
    normalised.update({key: moment.isoformat() for key, moment in bounds.items()})
    return normalised


def _comparable(first: datetime, second: datetime) -> bool:
    """Both naive (wall times of one zone) or both aware; a naive and an aware one are compared when built."""
    return (first.utcoffset() is None) == (second.utcoffset() is None)


def _reject_unknown_fields(spec: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in spec:
        if key != "type" and key not in allowed:
            hint = f" (APScheduler's {key} is {_APSCHEDULER_NAMES[key]} here)" if key in _APSCHEDULER_NAMES else ""
            raise InvalidTrigger(
                join_path(path, key),
                f"unknown field for the {spec['type']} trigger; expected one of {', '.join(allowed)}{hint}",
            )


def _json_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}
    if value is None:
        return "null"
    return names.get(type(value), f"a {type(value).__name__}")


def _number(value: object, field: str, *, whole: bool) -> int | float:
    wanted = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidTrigger(field, f"must be {wanted}, not {_json_type(value)}")
    if isinstance(value, float) and (whole or not math.isfinite(value)):
        raise InvalidTrigger(field, f"must be {wanted}, not {value!r}")
    if value < 0:
        raise InvalidTrigger(field, f"must not be negative (got {value!r})")
    return value


def _validate_interval(spec: Mapping[str, Any], path: str, depth: int) -> Spec:
    _reject_unknown_fields(spec, INTERVAL_UNITS, path)
    units = {unit: _number(spec.get(unit, 0), join_path(path, unit), whole=False) for unit in INTERVAL_UNITS}
    try:
        period = timedelta(**units)
    except OverflowError:
        raise InvalidTrigger(path or None, "the interval is too long (at most 999,999,999 days)") from None
    if period <= timedelta(0):
        raise InvalidTrigger(
            path or None,
            f"the interval must be longer than zero (at least one microsecond): set one of {', '.join(INTERVAL_UNITS)}",
        )
    return {"type": "interval", **units}


def _validate_date(spec: Mapping[str, Any], path: str, depth: int) -> Spec:
    _reject_unknown_fields(spec, ("run_at",), path)
    field = join_path(path, "run_at")
    run_at = spec.get("run_at")
    if run_at is None:
        raise InvalidTrigger(field, "required: an ISO 8601 date-time such as 2026-12-01T09:00:00")
    return {"type": "date", "run_at": parse_run_at(run_at, field).isoformat()}


def parse_run_at(value: object, field: str = "run_at") -> datetime:
    """The datetime a date trigger's ``run_at`` names (naive = wall time in the schedule's zone)."""
    if not isinstance(value, str):
        raise InvalidTrigger(field, f"must be an ISO 8601 date-time string, not {_json_type(value)}")
    if len(value) > 64:
        raise InvalidTrigger(field, f"{value[:20]!r}... is not an ISO 8601 date-time (too long)")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidTrigger(
            field,
            f"{value!r} is not an ISO 8601 date-time (e.g. 2026-12-01T09:00:00 or 2026-12-01T09:00:00+01:00)",
        ) from None
    try:
        check_moment(moment)
    except LimitExceeded as error:
        raise InvalidTrigger(field, str(error)) from None
    return moment


def _validate_cron(spec: Mapping[str, Any], path: str, depth: int) -> Spec:
    _reject_unknown_fields(spec, ("expression", *CRON_FIELD_NAMES), path)
    given = [name for name in CRON_FIELD_NAMES if name in spec]
    if "expression" in spec:
        if given:
            raise InvalidTrigger(
                join_path(path, given[0]),
                "cannot be combined with 'expression': give a crontab expression or APScheduler's fields",
            )
        return {"type": "cron", "expression": _crontab(spec["expression"], join_path(path, "expression"))}
    if not given:
        raise InvalidTrigger(
            path or None,
            f"a cron trigger needs an 'expression' or at least one of {', '.join(CRON_FIELD_NAMES)}",
        )
    normalised: Spec = {"type": "cron"}
    for name in given:
        normalised[name] = _cron_field(name, spec[name], join_path(path, name))
    return normalised


def _crontab(expression: object, field: str) -> str:
    if not isinstance(expression, str):
        raise InvalidTrigger(field, f"must be a crontab string such as '*/5 * * * *', not {_json_type(expression)}")
    if len(expression) > MAX_CRON_LENGTH:
        raise InvalidTrigger(field, f"must be at most {MAX_CRON_LENGTH} characters long, not {len(expression):,}")
    crontab_to_fields(expression, field)
    return " ".join(expression.split())


def _cron_field(name: str, value: object, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidTrigger(field, f"must be a string or an integer, not {_json_type(value)}")
    if isinstance(value, int) and not -(10**9) < value < 10**9:
        raise InvalidTrigger(field, f"out of range for the {name} field (at most 9 digits)")
    text = str(value).strip()
    if len(text) > MAX_CRON_LENGTH:
        raise InvalidTrigger(field, f"must be at most {MAX_CRON_LENGTH} characters long, not {len(text):,}")
    if not text:
        raise InvalidTrigger(field, "must not be empty (leave the field out for its default)")
    check_cron_field(name, text, field)
    return text


def _validate_calendar_interval(spec: Mapping[str, Any], path: str, depth: int) -> Spec:
    _reject_unknown_fields(spec, (*CALENDAR_STEPS, *TIME_OF_DAY_LIMITS), path)
    normalised: Spec = {"type": "calendarinterval"}
    for name in CALENDAR_STEPS:
        field = join_path(path, name)
        value = int(_number(spec.get(name, 0), field, whole=True))
        if value > CALENDAR_STEP_LIMITS[name]:
            raise InvalidTrigger(field, f"must be at most {CALENDAR_STEP_LIMITS[name]} (got {value})")
        normalised[name] = value
    if not any(normalised[name] for name in CALENDAR_STEPS):
        raise InvalidTrigger(
            path or None, f"a calendar interval needs at least one of {', '.join(CALENDAR_STEPS)} above zero"
        )
    for name, highest in TIME_OF_DAY_LIMITS.items():
        field = join_path(path, name)
        value = int(_number(spec.get(name, 0), field, whole=True))
        if value > highest:
            raise InvalidTrigger(field, f"must be between 0 and {highest} (got {value})")
        normalised[name] = value
    return normalised


def _validate_combination(spec: Mapping[str, Any], path: str, depth: int) -> Spec:
    _reject_unknown_fields(spec, ("triggers", *AND_OPTIONS) if spec["type"] == "and" else ("triggers",), path)
    if depth >= MAX_NESTING:
        raise InvalidTrigger(path or None, f"combinations ('or', 'and') nest at most {MAX_NESTING} deep")
    field = join_path(path, "triggers")
    members = spec.get("triggers")
    if members is None:
        raise InvalidTrigger(field, "required: a list of trigger specs")
    if not isinstance(members, list | tuple):
        raise InvalidTrigger(field, f"must be a list of trigger specs, not {_json_type(members)}")
    if not members:
        raise InvalidTrigger(field, f"an '{spec['type']}' combination needs at least one trigger")
    if len(members) > MAX_TRIGGER_MEMBERS:
        raise InvalidTrigger(
            field, f"an '{spec['type']}' combination holds at most {MAX_TRIGGER_MEMBERS} triggers, not {len(members)}"
        )
    return {
        "type": spec["type"],
        "triggers": [_validate(member, f"{field}.{index}", depth + 1) for index, member in enumerate(members)],
        **_validate_and_options(spec, path),
    }


def _validate_and_options(spec: Mapping[str, Any], path: str) -> Spec:
    """``threshold`` (seconds) and ``max_iterations`` as given; left out, they keep their defaults unwritten, so
    that specs stored before they existed stay equal to their normalised form."""
    options: Spec = {}
    if "threshold" in spec:
        field = join_path(path, "threshold")
        threshold = _number(spec["threshold"], field, whole=False)
        if threshold > MAX_AND_THRESHOLD:
            raise InvalidTrigger(field, f"must be at most {MAX_AND_THRESHOLD} seconds (one day), not {threshold!r}")
        options["threshold"] = threshold
    if "max_iterations" in spec:
        field = join_path(path, "max_iterations")
        iterations = _number(spec["max_iterations"], field, whole=True)
        if not 1 <= iterations <= MAX_AND_ITERATIONS:
            raise InvalidTrigger(
                field, f"must be between 1 and {MAX_AND_ITERATIONS:,} (a tick must stay short), not {iterations!r}"
            )
        options["max_iterations"] = int(iterations)
    return options


_VALIDATORS: dict[str, Callable[[Mapping[str, Any], str, int], Spec]] = {
    "date": _validate_date,
    "interval": _validate_interval,
    "cron": _validate_cron,
    "calendarinterval": _validate_calendar_interval,
    "or": _validate_combination,
    "and": _validate_combination,
}
