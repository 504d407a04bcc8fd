"""Pure trigger maths: JSON trigger specs to trigger objects and their fire times.

No models, no database, no clock (except ``next_fire_times``' default ``after``): every time is a parameter.
"""

from __future__ import annotations

from beat_store.triggers.base import Trigger
from beat_store.triggers.build import anchor_of, build_trigger, next_fire_times
from beat_store.triggers.combining import AND_MAX_ITERATIONS, AND_THRESHOLD
from beat_store.triggers.describe import describe_trigger
from beat_store.triggers.spec import validate_trigger_spec
from beat_store.triggers.wallclock import classify_wall_time

__all__ = [
    "AND_MAX_ITERATIONS",
    "AND_THRESHOLD",
    "Trigger",
    "anchor_of",
    "build_trigger",
    "classify_wall_time",
    "describe_trigger",
    "next_fire_times",
    "validate_trigger_spec",
]
