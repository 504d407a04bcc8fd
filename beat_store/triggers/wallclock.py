"""Wall-clock times of a zone and the real instants they name, across DST gaps and folds.

spec rule 6: a wall time repeated by a fall-back fires once, at its first occurrence; a wall time skipped by a
spring-forward fires once, at the first instant after the gap (the transition instant).
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Literal

from beat_store.triggers.base import UTC

WallTimeKind = Literal["normal", "gap", "fold"]


def classify_wall_time(naive: datetime, zone: tzinfo) -> WallTimeKind:
    """Is this wall time skipped (``"gap"``, spring-forward) or repeated (``"fold"``, fall-back) in zone?"""
    naive = naive.replace(tzinfo=None)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return "normal"
    # Both gaps and folds give two offsets; only a fold's wall time survives a round trip through UTC.
    round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)
    return "fold" if round_trip == naive else "gap"


def transition_instant(naive: datetime, zone: tzinfo) -> datetime:
    """The UTC instant at which the offset changes around a gap or fold wall time ``naive``.

    zoneinfo exposes no transition list, so bisect on whole UTC seconds between the two readings of the wall
    time: the earlier reading has the old offset, the later one the new offset.
    """
    naive = naive.replace(tzinfo=None)
    before = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    after = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    new_offset = naive.replace(tzinfo=zone, fold=1).utcoffset()
    low, high = min(before, after), max(before, after)
    low_second, high_second = int(low.timestamp()), int(high.timestamp())
    while high_second - low_second > 1:
        middle = (low_second + high_second) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == new_offset:
            high_second = middle
        else:
            low_second = middle
    return datetime.fromtimestamp(high_second, UTC)


def _offsets(naive: datetime, zone: tzinfo) -> tuple[timedelta, timedelta]:
    old = naive.replace(tzinfo=zone, fold=0).utcoffset()
    new = naive.replace(tzinfo=zone, fold=1).utcoffset()
    assert old is not None
    assert new is not None
    return old, new


def ambiguous_span(naive: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """Naive ``(start, end)`` wall times of the gap or fold holding ``naive``; the end is exclusive."""
    instant = transition_instant(naive, zone).replace(tzinfo=None)
    old, new = _offsets(naive, zone)
    return min(instant + old, instant + new), max(instant + old, instant + new)


def resolve_wall_time(naive: datetime, zone: tzinfo) -> datetime:
    """The one real instant a wall time fires at: itself, its first occurrence in a fold, or the transition
    instant for a wall time skipped by a gap. Aware, in ``zone``."""
    naive = naive.replace(tzinfo=None, fold=0)
    if classify_wall_time(naive, zone) == "gap":
        return transition_instant(naive, zone).astimezone(zone)
    return naive.replace(tzinfo=zone)


def wall_time_of(moment: datetime, zone: tzinfo) -> datetime:
    """The naive wall time ``moment`` shows in ``zone`` (fold cleared: a wall-clock value, not an instant)."""
    return moment.astimezone(zone).replace(tzinfo=None, fold=0)
