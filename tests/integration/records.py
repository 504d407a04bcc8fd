"""Execution records written directly, for tests that start from a given history."""

from __future__ import annotations

from datetime import datetime

from beat_store import headers
from beat_store.models import Execution, Schedule


def execution_of(schedule: Schedule, fire_time: datetime, status: str, **fields: object) -> Execution:
    """An unsaved run of ``schedule`` at ``fire_time`` (sent at once), with beat's own task id."""
    return Execution(
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=fire_time,
        send_at=fire_time,
        task_id=headers.task_id_for(schedule.pk, schedule.name, fire_time),
        status=status,
        **fields,
    )
