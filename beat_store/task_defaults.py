"""Defaults per task (``BEAT_STORE_TASK_DEFAULTS``), for the schedule fields a schedule leaves unset.

APScheduler 4 configures defaults per task; here a setting maps task names, or ``*``/``?`` glob patterns of
them, to defaults for :data:`FIELDS`::

    BEAT_STORE_TASK_DEFAULTS = {
        "reports.*": {"queue": "reports", "misfire_grace_time": 600},
        "reports.nightly": {"max_instances": 1, "coalesce": "earliest"},
    }

A schedule's own value wins; an unset one (``None``, or ``""`` for ``queue``) takes the default of the entries
that match its task, an exact name before the patterns, and the patterns in the order written; what no entry
sets keeps beat_store's built-in default (:data:`BUILT_IN`). Entries merge field by field, so a pattern can
give the queue and an exact name the policy. The setting is read and compiled once per process (Django's
``setting_changed``, which ``override_settings`` sends, drops it), so an edited setting applies at beat's next
start.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from django.core.signals import setting_changed
from django.dispatch import receiver

from beat_store.conf import settings
from beat_store.enums import CoalescePolicy
from beat_store.name_patterns import is_pattern, pattern_regex

#: The fields a task default may set.
FIELDS = ("coalesce", "misfire_grace_time", "max_instances", "jitter", "queue", "expires")
#: What an unset field means when no task default sets it either.
BUILT_IN: Mapping[str, Any] = {
    "coalesce": CoalescePolicy.LATEST.value,
    "misfire_grace_time": None,
    "max_instances": 1,
    "jitter": None,
    "queue": "",
    "expires": None,
}

logger = logging.getLogger(__name__)

Origin = Literal["schedule", "settings", "built-in"]


@dataclass(frozen=True)
class Resolved:
    """A field's value for one schedule, and where it comes from."""

    value: Any
    origin: Origin


#: How people read an empty value of each field.
_NOTHING = {
    "misfire_grace_time": "no deadline",
    "jitter": "no jitter",
    "expires": "no expiry",
    "queue": "the task's own routing",
}


def describe(field: str, value: Any) -> str:
    """A field's value in words: ``no deadline`` rather than ``None`` for an empty grace time."""
    if is_unset(field, value):
        return _NOTHING.get(field, "none")
    return f"{value:g} s" if field in ("misfire_grace_time", "jitter", "expires") else str(value)


def is_unset(field: str, value: Any) -> bool:
    return value is None or (field == "queue" and value == "")


def resolve(task: str, field: str, own_value: Any) -> Resolved:
    """The value ``field`` has for a schedule of ``task`` whose own value is ``own_value``."""
    if not is_unset(field, own_value):
        return Resolved(own_value, "schedule")
    defaults = defaults_for(task)
    if field in defaults:
        return Resolved(defaults[field], "settings")
    return Resolved(BUILT_IN[field], "built-in")


def value(task: str, field: str, own_value: Any) -> Any:
    """:func:`resolve`'s value alone (the herd's path: a dict lookup per field once the task is known)."""
    if not is_unset(field, own_value):
        return own_value
    defaults = defaults_for(task)
    return defaults[field] if field in defaults else BUILT_IN[field]


def defaults_for(task: str) -> Mapping[str, Any]:
    """The merged defaults of every entry matching ``task`` (see this module's docstring)."""
    return _compiled().for_task(task)


def problems(setting: Any) -> list[str]:
    """What is wrong with a value of ``BEAT_STORE_TASK_DEFAULTS``, one line each (empty: nothing)."""
    if not isinstance(setting, Mapping):
        return [f"must be a dict of task name (or pattern) -> defaults, not {type(setting).__name__}"]
    found = []
    for pattern, defaults in setting.items():
        if not isinstance(pattern, str) or not pattern:
            found.append(f"{pattern!r}: a key must be a task name or a glob pattern")
            continue
        if not isinstance(defaults, Mapping):
            found.append(f"{pattern!r}: the defaults must be a dict, not {type(defaults).__name__}")
            continue
        found.extend(f"{pattern!r}: {problem}" for problem in _field_problems(defaults))
    return found


def _field_problems(defaults: Mapping[Any, Any]) -> list[str]:
    found = []
    for name, given in defaults.items():
        if name not in FIELDS:
            found.append(f"unknown field {name!r} (task defaults may set {', '.join(FIELDS)})")
        elif name == "coalesce" and given not in CoalescePolicy.values:
            found.append(f"coalesce must be one of {', '.join(CoalescePolicy.values)}, not {given!r}")
        elif name == "max_instances" and (isinstance(given, bool) or not isinstance(given, int) or given < 1):
            found.append(f"max_instances must be an integer >= 1, not {given!r}")
        elif name == "queue" and not isinstance(given, str):
            found.append(f"queue must be a queue name, not {given!r}")
        elif name in ("misfire_grace_time", "jitter", "expires") and not _is_seconds(given):
            found.append(f"{name} must be a number of seconds >= 0 (or None), not {given!r}")
    return found


def _is_seconds(given: Any) -> bool:
    if given is None:
        return True
    return isinstance(given, int | float) and not isinstance(given, bool) and math.isfinite(given) and given >= 0


class _CompiledDefaults:
    """The setting split into exact names and ordered patterns, with each task's merge kept once computed."""

    def __init__(self, setting: Mapping[str, Mapping[str, Any]]) -> None:
        self.exact = {name: dict(defaults) for name, defaults in setting.items() if not is_pattern(name)}
        self.patterns = [
            (re.compile(pattern_regex(name)), dict(defaults)) for name, defaults in setting.items() if is_pattern(name)
        ]
        self._by_task: dict[str, dict[str, Any]] = {}

    def for_task(self, task: str) -> Mapping[str, Any]:
        merged = self._by_task.get(task)
        if merged is None:
            merged = {}
            # Least specific first, so that what follows overrides it: the last pattern written ... the first,
            # then the exact name.
            for pattern, defaults in reversed(self.patterns):
                if pattern.fullmatch(task):
                    merged.update(defaults)
            merged.update(self.exact.get(task, {}))
            self._by_task[task] = merged
        return merged


#: The setting as compiled; dropped when Django says the setting changed (``override_settings`` in tests).
#: Not re-read at each use: a missing setting costs an AttributeError inside Django's ``getattr`` every time,
#: and a herd asks for a few fields of every run.
_compiled_setting: _CompiledDefaults | None = None


def _compiled() -> _CompiledDefaults:
    global _compiled_setting
    if _compiled_setting is None:
        setting = settings.TASK_DEFAULTS
        found = problems(setting)
        if found:
            # Beat refuses to start with such a setting (and check beat_store.E005 names it); elsewhere (the admin)
            # it is ignored, logged once per value, rather than failing every page.
            logger.error("beat_store: BEAT_STORE_TASK_DEFAULTS is ignored: %s", "; ".join(found))
            setting = {}
        _compiled_setting = _CompiledDefaults(setting)
    return _compiled_setting


@receiver(setting_changed)
def _forget_on_change(setting: str, **kwargs: Any) -> None:
    global _compiled_setting
    if setting == "BEAT_STORE_TASK_DEFAULTS":
        _compiled_setting = None
