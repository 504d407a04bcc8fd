"""Forms of the admin: validation and every message a user reads."""

from __future__ import annotations

from beat_store.forms.preview import FireTimePreview, preview_fire_times
from beat_store.forms.pruning import PruneForm
from beat_store.forms.schedule import ScheduleForm, preview_of, registered_task_names
from beat_store.forms.triggers import TriggerEditor, TriggerForm

__all__ = [
    "FireTimePreview",
    "PruneForm",
    "ScheduleForm",
    "TriggerEditor",
    "TriggerForm",
    "preview_fire_times",
    "preview_of",
    "registered_task_names",
]
