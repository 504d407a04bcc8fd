"""beat_store: Celery beat schedules in Django models, with APScheduler's timing semantics.

Importing this package imports no models, so ``celery beat -S beat_store.Scheduler`` and INSTALLED_APPS
loading stay clean: every public name is resolved on first use (PEP 562).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Scheduler": "beat_store.scheduler",
    "add_schedule": "beat_store.api",
    "remove_schedule": "beat_store.api",
    "pause_schedule": "beat_store.api",
    "resume_schedule": "beat_store.api",
    "run_now": "beat_store.api",
    "current_execution": "beat_store.api",
    "next_fire_times": "beat_store.triggers",
    "InvalidTrigger": "beat_store.exceptions",
    "ScheduleExists": "beat_store.exceptions",
    "ScheduleLookupError": "beat_store.exceptions",
    "TriggerGaveUp": "beat_store.exceptions",
    "TriggerTooSlow": "beat_store.exceptions",
}

__all__ = [
    "InvalidTrigger",
    "ScheduleExists",
    "ScheduleLookupError",
    "Scheduler",
    "TriggerGaveUp",
    "TriggerTooSlow",
    "__version__",
    "add_schedule",
    "current_execution",
    "next_fire_times",
    "pause_schedule",
    "remove_schedule",
    "resume_schedule",
    "run_now",
]

if TYPE_CHECKING:
    from beat_store.api import (
        add_schedule,
        current_execution,
        pause_schedule,
        remove_schedule,
        resume_schedule,
        run_now,
    )
    from beat_store.exceptions import InvalidTrigger, ScheduleExists, ScheduleLookupError, TriggerGaveUp, TriggerTooSlow
    from beat_store.scheduler import Scheduler
    from beat_store.triggers import next_fire_times


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'beat_store' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value
