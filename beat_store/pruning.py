"""Delete old execution history: shared by the admin action and ``manage.py beat_store_prune``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from beat_store.enums import ExecutionStatus
from beat_store.models import Execution

_AGE = re.compile(r"^\s*(\d+)\s*([dhmw])\s*$", re.IGNORECASE)
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
#: Longest age accepted: a century is past any history, and subtracting more from now can leave the calendar.
MAX_AGE = timedelta(days=36_525)


def parse_age(text: str) -> timedelta:
    """``"7d"``, ``"12h"``, ``"30m"`` or ``"2w"`` as a timedelta; ``ValueError`` naming the accepted forms."""
    match = _AGE.match(text or "")
    if match is None:
        raise ValueError(
            f"{text!r} is not an age: give a whole number followed by a unit, "
            "w (weeks), d (days), h (hours) or m (minutes), e.g. '7d', '12h' or '30m'"
        )
    amount, unit = int(match.group(1)), match.group(2).lower()
    if amount == 0:
        raise ValueError(f"{text!r} is zero: an age of zero would delete the whole history; give at least 1{unit}")
    try:
        age = timedelta(**{_UNITS[unit]: amount})
    except OverflowError:
        age = MAX_AGE + MAX_AGE
    if age > MAX_AGE:
        raise ValueError(f"{text!r} is too long an age: at most {MAX_AGE.days:,} days (about a century)")
    return age


def prune_executions(older_than: timedelta, *, now: datetime) -> int:
    """Delete executions whose fire time is more than ``older_than`` before ``now``; return how many.

    Open executions (pending, sent, started, retrying) are kept whatever their age: they still hold a
    max-instances slot, and deleting them would let extra runs through.
    """
    if not timedelta(0) < older_than <= MAX_AGE:
        raise ValueError(f"older_than must be a positive duration of at most {MAX_AGE.days:,} days")
    cutoff = now - older_than
    old = Execution.objects.filter(fire_time__lt=cutoff).exclude(status__in=ExecutionStatus.open_values())
    _, per_model = old.delete()
    return per_model.get(Execution._meta.label, 0)
