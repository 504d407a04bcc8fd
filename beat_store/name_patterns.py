"""Glob patterns of names, as settings that select schedules or tasks take them: ``*`` any characters, ``?``
one, every other character itself (a ``.`` in a task name is a dot). Settings read them with Python's ``re``
(``BEAT_STORE_TASK_DEFAULTS``) or hand them to the database (``BEAT_STORE_METRICS_SCHEDULES``); both accept the
regular expression written here."""

from __future__ import annotations

import re


def is_pattern(name: str) -> bool:
    """Does ``name`` hold a glob character (else it is an exact name)?"""
    return "*" in name or "?" in name


def pattern_regex(pattern: str) -> str:
    """The regular expression matching what ``pattern`` matches, without anchors."""
    return "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
