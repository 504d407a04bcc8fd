"""Files of schedules: JSON and YAML documents (what ``beat_store_export`` writes) and INI files.

A JSON/YAML document is ``{"version": 2, "schedules": [<record>, ...]}`` (a bare list of records is accepted
too, and read as version 2); a record holds the schedule fields of docs/spec.md, datetimes as ISO 8601 strings.

Version 1 documents were written before issue #13, when a cron trigger's ``day_of_week`` field numbered weekdays
as APScheduler 3 does (0 = Monday): reading one rewrites those fields to the same days in today's crontab
numbering (0 and 7 = Sunday), so an old export imports with its days unchanged.

The INI form, one section per schedule (superdjango's ``scheduler.ini`` reads as written)::

    [nightly-report]
    call = proj.tasks.report      ; the Celery task (required); "callback" is the same key
    every = 10 minutes            ; an interval: "<number> <unit>" pairs, units seconds..weeks; or a weekday
    at = 09:30                    ; a wall-clock time HH:MM[:SS]; alone: every day at that time
    timezone = Europe/Paris       ; optional, the schedule's zone
    description = Sends the report
    active = no                   ; optional: no/false/off/0 imports the schedule paused (default yes)
    recipients = ["ops@example.com"]   ; any other key is a keyword argument (typed, see below)

A key that names another schedule field (``queue``, ``max_instances``, ``start_at``...) is an error naming the
section and the key: it would otherwise reach the task as a keyword argument and fail every run.

``frequency`` is the same key as ``every``; giving both spellings of one key in a section is an error.

``every = sunday`` (monday..sunday, any case) runs weekly on that day at ``at`` (00:00 without it): a cron
trigger. ``every`` + ``at`` with a unit of days or weeks is a calendar interval at that time (``every = 2 days``,
``at = 09:30``); ``at`` with an ``every`` of seconds, minutes or hours is refused as ambiguous.

``active`` accepts yes/no, true/false, on/off, 1/0 in any case; it never becomes a keyword argument.

Keyword argument values are read as Python-ish literals: ``True``/``False``/``None`` in any case are booleans and
None, then JSON (numbers, lists, objects, ``null``, quoted strings), else the text as written. So superdjango's
``testing = True`` passes ``testing=True``, not the string ``"True"``.

The parser does not know the Celery app: leaving out sections whose task is not registered, and taking the
description from the task's docstring, is ``beat_store.transfer.tasks``' job.
"""

from __future__ import annotations

import configparser
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

from beat_store.exceptions import BeatStoreError
from beat_store.models import DEFINITION_FIELDS
from beat_store.triggers.weekdays import convert_day_of_week_numbering

FORMATS = ("json", "yaml", "ini")
DOCUMENT_VERSION = 2
#: Documents whose cron ``day_of_week`` fields use APScheduler 3's numbering (0 = Monday).
APSCHEDULER3_WEEKDAY_VERSIONS = (1,)
_EXTENSIONS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".ini": "ini", ".cfg": "ini"}
#: An INI section's own keys (any other key is a keyword argument), and superdjango's spellings of two of them.
_INI_RESERVED = ("call", "every", "at", "timezone", "description", "active")
_INI_ALIASES = {"callback": "call", "frequency": "every"}
#: Schedule fields an INI section cannot set: as keys they would silently become keyword arguments of the task
#: (and fail every run with "unexpected keyword argument"), so they are refused with the section and key.
_INI_SCHEDULE_FIELDS = frozenset(DEFINITION_FIELDS) - set(_INI_RESERVED)
_INI_WEEKDAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_INI_BOOLEANS = {
    "yes": True,
    "true": True,
    "on": True,
    "1": True,
    "no": False,
    "false": False,
    "off": False,
    "0": False,
}
#: Python's spellings of the constants, in any case (JSON's own true/false/null are read by json.loads after).
_INI_CONSTANTS = {"true": True, "false": False, "none": None}
_INI_UNITS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}
_EVERY_PAIR = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]+)")
_AT = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class TransferFormatError(BeatStoreError, ValueError):
    """A file of schedules cannot be read: its format, its syntax or one of its entries is wrong."""


def detect_format(path: str, explicit: str | None = None) -> str:
    """The format named by ``explicit``, else by the file's extension."""
    if explicit:
        if explicit not in FORMATS:
            raise TransferFormatError(f"unknown format {explicit!r}; choose one of {', '.join(FORMATS)}")
        return explicit
    suffix = PurePath(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise TransferFormatError(
            f"cannot tell the format of {path!r} from its extension; use --format ({', '.join(FORMATS)})"
        )
    return _EXTENSIONS[suffix]


def dump_document(records: Sequence[Mapping[str, Any]], fmt: str) -> str:
    """Records as a JSON or YAML document (INI is import-only: it cannot say everything a schedule holds)."""
    document = {"version": DOCUMENT_VERSION, "schedules": [dict(record) for record in records]}
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return str(_yaml().safe_dump(document, sort_keys=False, allow_unicode=True))
    raise TransferFormatError(f"cannot export to {fmt!r}; choose json or yaml")


def load_records(text: str, fmt: str) -> list[dict[str, Any]]:
    """The schedule records of a file's text."""
    if fmt == "ini":
        return parse_ini(text)
    if fmt == "json":
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise TransferFormatError(f"not valid JSON: {error}") from error
        except RecursionError:
            raise TransferFormatError(_TOO_DEEP) from None
        except ValueError as error:  # after JSONDecodeError, its subclass: a number of more than 4,300 digits
            raise TransferFormatError(f"not valid JSON: {error}") from None
    elif fmt == "yaml":
        yaml = _yaml()
        try:
            document = yaml.load(text, Loader=_no_alias_loader(yaml))  # a SafeLoader (see _no_alias_loader)
        except yaml.YAMLError as error:
            raise TransferFormatError(f"not valid YAML: {error}") from error
        except RecursionError:
            raise TransferFormatError(_TOO_DEEP) from None
        # YAML reads unquoted timestamps as datetimes; records carry ISO 8601 text, like JSON.
        document = _datetimes_as_text(document)
    else:
        raise TransferFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return _records_of(document)


def parse_ini(text: str) -> list[dict[str, Any]]:
    """An INI file (see this module's docstring) -> records."""
    parser = configparser.ConfigParser(
        interpolation=None, default_section="\x00no defaults", inline_comment_prefixes=(";", "#")
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keyword argument names keep their case
    try:
        parser.read_string(text)
    except configparser.Error as error:
        raise TransferFormatError(f"not a valid INI file: {error}") from error
    return [_ini_record(name, dict(parser[name])) for name in parser.sections()]


def _ini_record(name: str, raw_options: dict[str, str]) -> dict[str, Any]:
    options = _without_aliases(name, raw_options)
    task = options.get("call", "").strip()
    if not task:
        raise TransferFormatError(f"[{name}]: 'call = dotted.task.name' (or 'callback = ...') is required")
    record: dict[str, Any] = {"name": name, "task": task, "trigger": _ini_trigger(name, options)}
    for key in ("timezone", "description"):
        if options.get(key, "").strip():
            record[key] = options[key].strip()
    if "active" in options:
        record["paused"] = not _parse_active(name, options["active"])
    for key in options:
        if key in _INI_SCHEDULE_FIELDS:
            raise TransferFormatError(
                f"[{name}]: {key!r} is a schedule field, which an INI section does not set (it would reach the task "
                "as a keyword argument); set it in a JSON or YAML file, or name the keyword argument otherwise"
            )
    record["kwargs"] = {key: _ini_value(value) for key, value in options.items() if key not in _INI_RESERVED}
    return record


def _without_aliases(name: str, options: dict[str, str]) -> dict[str, str]:
    """``options`` with superdjango's ``callback``/``frequency`` renamed ``call``/``every``."""
    renamed = dict(options)
    for alias, key in _INI_ALIASES.items():
        if alias not in renamed:
            continue
        if key in renamed:
            # Which one was meant cannot be told; silently keeping either would schedule something else.
            raise TransferFormatError(f"[{name}]: '{key}' and '{alias}' are the same key; keep one of them")
        renamed[key] = renamed.pop(alias)
    return renamed


def _parse_active(name: str, text: str) -> bool:
    value = _INI_BOOLEANS.get(text.strip().lower())
    if value is None:
        raise TransferFormatError(f"[{name}]: active = {text!r} is not yes/no (or true/false, on/off, 1/0)")
    return value


def _ini_trigger(name: str, options: Mapping[str, str]) -> dict[str, Any]:
    every_text = options.get("every", "").strip()
    at = _parse_at(name, options["at"]) if options.get("at", "").strip() else None
    weekday = _INI_WEEKDAYS.get(every_text.lower())
    if weekday is not None:
        hour, minute, second = at or (0, 0, 0)
        return {"type": "cron", "day_of_week": weekday, "hour": str(hour), "minute": str(minute), "second": str(second)}
    every = _parse_every(name, every_text) if every_text else None
    if every is None and at is None:
        raise TransferFormatError(f"[{name}]: say when it runs with 'every = 10 minutes' and/or 'at = HH:MM'")
    if at is None:
        return {"type": "interval", **every} if every else {}
    hour, minute, second = at
    if every is None:
        return {"type": "cron", "hour": str(hour), "minute": str(minute), "second": str(second)}
    if set(every) - {"days", "weeks"}:
        raise TransferFormatError(
            f"[{name}]: 'at' goes with an 'every' counted in days or weeks, or a weekday, not {every_text!r}"
        )
    return {"type": "calendarinterval", **every, "hour": hour, "minute": minute, "second": second}


def _parse_every(name: str, text: str) -> dict[str, float]:
    cleaned = text.strip().lower()
    pairs = _EVERY_PAIR.findall(cleaned)
    if not pairs or _EVERY_PAIR.sub("", cleaned).replace(",", "").replace("and", "").strip():
        raise TransferFormatError(
            f"[{name}]: every = {text!r} is not like '10 minutes', '1 hour 30 minutes' or 'sunday'"
        )
    amounts: dict[str, float] = {}
    for number, unit in pairs:
        unit_name = _INI_UNITS.get(unit.rstrip("s"))
        if unit_name is None:
            raise TransferFormatError(
                f"[{name}]: unknown unit {unit!r} in every = {text!r}; use seconds ... weeks, or a weekday"
            )
        value = float(number)
        amounts[unit_name] = amounts.get(unit_name, 0) + (int(value) if value.is_integer() else value)
    return amounts


def _parse_at(name: str, text: str) -> tuple[int, int, int]:
    match = _AT.match(text.strip())
    if not match:
        raise TransferFormatError(f"[{name}]: at = {text!r} is not a time like 09:30 or 09:30:15")
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise TransferFormatError(f"[{name}]: at = {text!r} is not a time of day")
    return hour, minute, second


def _ini_value(text: str) -> Any:
    constant = text.strip().lower()
    if constant in _INI_CONSTANTS:
        return _INI_CONSTANTS[constant]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _records_of(document: Any) -> list[dict[str, Any]]:
    version = DOCUMENT_VERSION
    if isinstance(document, Mapping):
        version = document.get("version", DOCUMENT_VERSION)
        if version not in (*APSCHEDULER3_WEEKDAY_VERSIONS, DOCUMENT_VERSION):
            raise TransferFormatError(f"unsupported document version {version!r} (this beat_store reads 1 and 2)")
        unknown = set(document) - {"version", "schedules"}
        if unknown:
            raise TransferFormatError(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
        document = document.get("schedules", [])
    if not isinstance(document, list):
        raise TransferFormatError("expected a list of schedules, or an object with a 'schedules' list")
    for position, record in enumerate(document):
        if not isinstance(record, dict):
            raise TransferFormatError(f"schedule #{position + 1} is not an object of fields")
    if version in APSCHEDULER3_WEEKDAY_VERSIONS:
        return [_with_crontab_weekdays(record) for record in document]
    return document


def _with_crontab_weekdays(record: dict[str, Any]) -> dict[str, Any]:
    if "trigger" not in record:
        return record
    trigger = convert_day_of_week_numbering(record["trigger"], source="apscheduler3", target="crontab")
    return {**record, "trigger": trigger}


def _datetimes_as_text(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _datetimes_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_datetimes_as_text(item) for item in value]
    return value


_TOO_DEEP = "nested too deep: schedule files hold records of plain values, lists and objects"


def _no_alias_loader(yaml: Any) -> Any:
    """PyYAML's SafeLoader without aliases (``*name``).

    A few hundred bytes of nested aliases ("billion laughs") stand for billions of values: ``safe_load`` shares
    them, but anything that walks the document (our date conversion, validation, saving) expands them. Schedule
    files have no use for aliases, so the first one is refused with its line.
    """

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    "aliases (*name) are not accepted in schedule files: write the values out",
                    event.start_mark,
                )
            return super().compose_node(parent, index)

    return NoAliasLoader


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as error:
        raise TransferFormatError("YAML needs PyYAML: pip install 'beat_store[yaml]'") from error
    return yaml
