"""Day-of-week values, read the way crontab, Celery and APScheduler 4 read them, and APScheduler 3's old way.

beat_store numbers weekdays as crontab does (0 and 7 = Sunday, 1 = Monday ... 6 = Saturday), in the crontab
``expression`` and in the ``day_of_week`` field alike; names (``mon`` ... ``sun``) mean the same in every
numbering, and a range may wrap past Sunday (``sat-mon``, ``6-1``: Saturday through Monday).

Before issue #13 the ``day_of_week`` *field* was read by APScheduler 3, where 0 is Monday. That reading is kept
here (``numbering="apscheduler3"``) for two jobs only: the data migration that rewrites stored values, and the
import of files written before the change. Both go through :func:`convert_day_of_week_numbering`, which keeps
every schedule's days. Migration 0004 imports it: what it returns for a stored value is what that migration
writes, so its results must not change.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

#: APScheduler's weekday names, Monday first: the index is ``date.weekday()``.
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))

Numbering = Literal["crontab", "apscheduler3"]

_SEPARATOR = re.compile(r"\s*,\s*")
_PART = re.compile(r"^(?P<first>\*|[0-9]+|[a-z]+)(?:-(?P<last>[0-9]+|[a-z]+))?(?:/(?P<step>[0-9]+))?$")
# APScheduler 3's own patterns: its name pattern is unanchored, so "mon-fri/2" is read as "mon-fri".
_APS3_ALL = re.compile(r"^\*(?:/(?P<step>\d+))?$")
_APS3_RANGE = re.compile(r"^(?P<first>\d+)(?:-(?P<last>\d+))?(?:/(?P<step>\d+))?$")
_APS3_NAMES = re.compile(r"^(?P<first>[a-z]+)(?:-(?P<last>[a-z]+))?")


def read_weekdays(text: str, *, numbering: Numbering = "crontab") -> frozenset[int]:
    """The weekdays (``date.weekday()`` numbers, Monday = 0) a ``day_of_week`` value names.

    Raises ``ValueError`` with a reason a user can act on. ``numbering="apscheduler3"`` reads the value as
    APScheduler 3 did (0 = Monday, no wrapping ranges); only migrations and imports of old data need it.
    """
    read_part = _read_crontab_part if numbering == "crontab" else _read_apscheduler3_part
    days: set[int] = set()
    for part in _SEPARATOR.split(str(text).strip().lower()):
        days.update(read_part(part))
    return frozenset(days)


def _read_crontab_part(part: str) -> set[int]:
    match = _PART.match(part)
    if match is None:
        raise ValueError(f"cannot read {part!r} (use 0-7 or sun..sat, ranges such as mon-fri or sat-mon, steps)")
    first_text, last_text, step_text = match.group("first", "last", "step")
    step = _step(step_text, part)
    if first_text == "*":
        if last_text is not None:
            raise ValueError(f"cannot read {part!r}: '*' takes no range end")
        first, last = 0, 6
    else:
        first = _crontab_number(first_text)
        last = _crontab_number(last_text) if last_text is not None else (7 if step_text is not None else first)
        if last < first:
            last += 7  # a range that wraps past Sunday: sat-mon = Saturday, Sunday, Monday
    return {(number - 1) % 7 for number in range(first, last + 1, step)}


def _crontab_number(text: str) -> int:
    """Crontab's number for a weekday: 0 (or 7) = Sunday, 1 = Monday ... 6 = Saturday."""
    if text.isdigit():
        number = int(text)
        if number > 7:
            raise ValueError(f"{text} is not a weekday number (0-7: 0 and 7 = Sunday, 1 = Monday)")
        return number
    if text not in WEEKDAY_NAMES:
        raise ValueError(f"{text!r} is not a weekday name (mon, tue, wed, thu, fri, sat, sun)")
    return (WEEKDAY_NAMES.index(text) + 1) % 7


def _step(text: str | None, part: str) -> int:
    if text is None:
        return 1
    step = int(text)
    if step == 0:
        raise ValueError(f"the step in {part!r} must be at least 1")
    return step


def _read_apscheduler3_part(part: str) -> set[int]:
    every = _APS3_ALL.match(part)
    if every is not None:
        step = _step(every.group("step"), part)
        _check_aps3_step(step, 6, part)
        return set(range(0, 7, step))
    numbers = _APS3_RANGE.match(part)
    if numbers is not None:
        first = int(numbers.group("first"))
        last_text = numbers.group("last")
        step_text = numbers.group("step")
        last = int(last_text) if last_text is not None else (6 if step_text is not None else first)
        days = _aps3_range(first, last, _step(step_text, part), part)
        if step_text is not None:
            _check_aps3_step(int(step_text), last - first, part)
        return days
    names = _APS3_NAMES.match(part)
    if names is not None:
        first_name, last_name = names.group("first", "last")
        first = _aps3_name(first_name)
        return _aps3_range(first, _aps3_name(last_name) if last_name else first, 1, part)
    raise ValueError(f"cannot read {part!r} as an APScheduler 3 day_of_week value")


def _aps3_range(first: int, last: int, step: int, part: str) -> set[int]:
    if last > 6 or first > last:
        raise ValueError(f"{part!r} is not an APScheduler 3 weekday range (0 = Monday ... 6 = Sunday)")
    return set(range(first, last + 1, step))


def _check_aps3_step(step: int, span: int, part: str) -> None:
    # APScheduler 3 refused a step longer than the range it steps through ("0-1/2", "*/7", even "1-1/1").
    if step > span:
        raise ValueError(f"the step in {part!r} is longer than its range, which APScheduler 3 refused")


def _aps3_name(name: str) -> int:
    if name not in WEEKDAY_NAMES:
        raise ValueError(f"{name!r} is not a weekday name")
    return WEEKDAY_NAMES.index(name)


def weekday_names(days: Iterable[int]) -> str:
    """A ``day_of_week`` value naming ``days`` (``date.weekday()`` numbers) that every numbering reads alike.

    Monday first, runs of three or more days as a range, no range wrapping past Sunday (APScheduler 3 refused
    those): ``"mon-fri"``, ``"mon,sat,sun"``, ``"*"`` for the whole week.
    """
    ordered = sorted(set(days))
    if not ordered:
        raise ValueError("no weekday to name")
    if set(ordered) == ALL_DAYS:
        return "*"
    runs: list[list[int]] = []
    for day in ordered:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{WEEKDAY_NAMES[run[0]]}-{WEEKDAY_NAMES[run[-1]]}")
        else:
            parts.extend(WEEKDAY_NAMES[day] for day in run)
    return ",".join(parts)


def renumber_day_of_week(text: str, *, source: Numbering, target: Numbering) -> str:
    """``text`` rewritten so that ``target`` numbering reads the days ``source`` numbering read from it.

    Unchanged when both read the same days (names, ``*``); otherwise the days by name. Raises ``ValueError``
    when ``source`` cannot read ``text``.
    """
    days = read_weekdays(text, numbering=source)
    try:
        if read_weekdays(text, numbering=target) == days:
            return text
    except ValueError:
        pass  # e.g. "sat-mon", which APScheduler 3 refuses: spell the days out
    return weekday_names(days)


def convert_day_of_week_numbering(spec: Any, *, source: Numbering, target: Numbering) -> Any:
    """A copy of a trigger spec whose cron ``day_of_week`` fields (in combinations too) read, in ``target``
    numbering, the days they read in ``source`` numbering. Crontab ``expression`` values are never changed:
    they always used crontab numbering. A value ``source`` cannot read is left for validation to report."""

    def convert(cron: Mapping[str, Any]) -> Mapping[str, Any]:
        value = cron.get("day_of_week")
        if isinstance(value, bool) or not isinstance(value, str | int):
            return cron
        try:
            renumbered = renumber_day_of_week(str(value), source=source, target=target)
        except ValueError:
            return cron
        return cron if renumbered == str(value) else {**cron, "day_of_week": renumbered}

    return map_cron_specs(spec, convert)


def map_cron_specs(spec: Any, convert: Callable[[Mapping[str, Any]], Mapping[str, Any]]) -> Any:
    """``spec`` with ``convert`` applied to every cron spec in it (members of ``or``/``and`` included).

    Returns ``spec`` itself when nothing changed, so callers can tell by identity."""
    if not isinstance(spec, Mapping):
        return spec
    if spec.get("type") == "cron":
        return convert(spec)
    members = spec.get("triggers")
    if spec.get("type") not in ("or", "and") or not isinstance(members, list):
        return spec
    converted = [map_cron_specs(member, convert) for member in members]
    if all(new is old for new, old in zip(converted, members, strict=True)):
        return spec
    return {**spec, "triggers": converted}
