"""The largest values a schedule may hold, and the checks that keep every stored value within them.

Each limit keeps one user's schedule from costing anyone else: a value past it is refused where it is typed
(form error, ``ValidationError``, import report), and a stored row past it (written around validation) is set
aside alone by beat. docs/spec.md "Limits" lists them with the reason for each.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone

#: Seconds ``jitter``, ``misfire_grace_time`` and ``expires`` may hold: ten years, far past any real use, and
#: small enough that a fire time plus them stays a date Python (and every database) can hold.
MAX_SECONDS = 10 * 366 * 86_400
#: Bounds of every datetime a schedule names (``start_at``, ``end_at``, a date trigger's ``run_at``): zone
#: conversions near years 1 and 9999 leave the range Python's ``datetime`` can hold.
EARLIEST_MOMENT = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST_MOMENT = datetime(9998, 12, 31, tzinfo=timezone.utc)
#: Nesting of lists and objects in ``args``, ``kwargs``, ``headers``, ``metadata`` and trigger specs. Whole numbers stay
#: within 64 bits (``-2**63 <= n < 2**63``).
MAX_JSON_DEPTH = 32
#: Encoded size of ``args`` plus ``kwargs`` (and of ``headers``): they travel in every message of the schedule.
MAX_JSON_BYTES = 256 * 1024
#: Characters in one cron field or crontab expression (the longest real one, every second listed, is 170).
MAX_CRON_LENGTH = 1000
#: Members of one ``or``/``and``, and trigger specs in one schedule's whole tree.
MAX_TRIGGER_MEMBERS = 20
MAX_TRIGGER_NODES = 100
#: Characters of a traceback kept on an execution (its end, where the error is, is kept).
MAX_TRACEBACK_LENGTH = 20_000
#: Message headers Celery sets itself (protocol 2): a schedule's ``headers`` may not name them, because a
#: worker reads them as the task's id, name, arguments or limits.
CELERY_HEADERS = frozenset(
    {
        "lang",
        "task",
        "id",
        "shadow",
        "eta",
        "expires",
        "group",
        "group_index",
        "retries",
        "timelimit",
        "root_id",
        "parent_id",
        "argsrepr",
        "kwargsrepr",
        "origin",
        "ignore_result",
        "replaced_task_nesting",
        "stamped_headers",
        "stamps",
    }
)
#: beat_store's own headers start with this (see beat_store.headers).
OWN_HEADER_PREFIX = "beat_store_"


class LimitExceeded(ValueError):
    """A value is past one of the limits above; the message says which, in words a user can act on."""


def check_json_value(value: object, *, max_bytes: int = MAX_JSON_BYTES) -> None:
    """Raise ``LimitExceeded`` unless ``value`` is plain JSON (no NaN or infinity, which JSON lacks and some
    databases refuse), at most ``MAX_JSON_DEPTH`` deep and ``max_bytes`` long once encoded.

    The walk is iterative, so a value nested a million deep is refused rather than exhausting the stack.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise LimitExceeded(f"{item!r} is not a JSON number (NaN and infinity are not allowed)")
        if isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**63:
            raise LimitExceeded("a whole number out of the 64-bit range JSON readers and databases hold")
        if isinstance(item, Mapping | list | tuple):
            if depth > MAX_JSON_DEPTH:
                raise LimitExceeded(f"nested more than {MAX_JSON_DEPTH} levels deep")
            children = item.items() if isinstance(item, Mapping) else enumerate(item)
            for key, child in children:
                if isinstance(item, Mapping):
                    if not isinstance(key, str):
                        raise LimitExceeded(f"object keys must be strings, not {type(key).__name__}")
                    check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, str):
            check_text(item)
        elif item is not None and not isinstance(item, str | int | float | bool):
            raise LimitExceeded(f"{type(item).__name__} is not a JSON value")
    size = len(json.dumps(value, allow_nan=False))
    if size > max_bytes:
        raise LimitExceeded(f"{size:,} bytes once encoded; at most {max_bytes:,}")


def check_text(text: str) -> None:
    """Text every database stores: UTF-8 encodable (no lone surrogate, as ``"\\ud800"`` in JSON decodes to)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise LimitExceeded("text that is not valid Unicode (a lone surrogate, such as \\ud800)") from None
    if "\x00" in text:
        raise LimitExceeded("text with a NUL character (\\u0000), which PostgreSQL cannot store")


def check_seconds(value: float | None) -> None:
    """``jitter``, ``misfire_grace_time``, ``expires``: empty, or a finite number of seconds within limits."""
    if value is None:
        return
    if not math.isfinite(value):
        raise LimitExceeded(f"must be a finite number of seconds, not {value!r}")
    if value > MAX_SECONDS:
        raise LimitExceeded(f"must be at most {MAX_SECONDS:,} seconds (about ten years), not {value:g}")


def check_moment(value: datetime) -> None:
    """A datetime a schedule names lies within ``EARLIEST_MOMENT``..``LATEST_MOMENT`` (naive: as a wall time)."""
    try:
        naive = value if value.utcoffset() is None else value.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:
        naive = value.replace(tzinfo=None)  # within a day of year 1 or 9999: out of range either way
    if not EARLIEST_MOMENT.replace(tzinfo=None) <= naive <= LATEST_MOMENT.replace(tzinfo=None):
        raise LimitExceeded(
            f"{value.isoformat()} is outside the supported range, "
            f"{EARLIEST_MOMENT:%Y-%m-%d} to {LATEST_MOMENT:%Y-%m-%d}"
        )


def reserved_header(name: str) -> bool:
    """Is ``name`` a header Celery or beat_store sets on every message (refused in a schedule's ``headers``)?"""
    return name in CELERY_HEADERS or name.startswith(OWN_HEADER_PREFIX)


def keep_tail(text: str, limit: int = MAX_TRACEBACK_LENGTH) -> str:
    """``text`` cut to its last ``limit`` characters (a traceback's end names the error), marked as cut."""
    if len(text) <= limit:
        return text
    return f"[… {len(text) - limit:,} characters cut]\n" + text[-limit:]
