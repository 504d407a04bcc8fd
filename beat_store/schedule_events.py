"""Sending ``beat_store.signals.schedule_changed`` from every save and delete of a schedule.

Connected to Django's ``post_save``/``post_delete`` of :class:`~beat_store.models.Schedule` (see ``apps``), so
the API, the admin, imports, the settings sync and user code all announce their changes alike; beat's own
writes of its state columns are ``UPDATE``s and announce nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from beat_store.models import Schedule
from beat_store.signals import schedule_changed, send_robustly


def on_saved(sender: Any, instance: Schedule, created: bool = False, **kwargs: Any) -> None:
    if not schedule_changed.has_listeners():
        return
    _announce_after_commit(instance, "added" if created else _change_of(instance))


def on_deleted(sender: Any, instance: Schedule, **kwargs: Any) -> None:
    if schedule_changed.has_listeners():
        _announce_after_commit(instance, "removed")


def _change_of(schedule: Schedule) -> str:
    """``paused``/``resumed`` when the save flipped ``paused`` (whatever else changed), else ``updated``."""
    was_paused = schedule.__dict__.get("_loaded_paused", schedule.paused)
    if schedule.paused != was_paused:
        return "paused" if schedule.paused else "resumed"
    return "updated"


def _announce_after_commit(schedule: Schedule, change: str) -> None:
    transaction.on_commit(lambda: _send(schedule, change))


def _send(schedule: Schedule, change: str) -> None:
    send_robustly(schedule_changed, "schedule_changed", Schedule, schedule=schedule, change=change)
