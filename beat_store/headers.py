"""The message headers beat_store stamps on each run, and the deterministic task id (docs/spec.md "Messages")."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

SCHEDULE = "beat_store_schedule"
EXECUTION = "beat_store_execution"
FIRE_TIME = "beat_store_fire_time"

#: Namespace of the task ids: uuid5 of (schedule id, name, fire time in UTC) is the same in every beat.
_TASK_ID_NAMESPACE = uuid.UUID("6b1f3c1e-27c3-4f7e-9a7e-2f5d0c1b9e41")


def task_id_for(schedule_id: int, schedule_name: str, fire_time: datetime) -> str:
    """Deterministic task id of the scheduled run of ``schedule`` at ``fire_time``.

    The row id is part of it so that a schedule deleted and re-created under the same name does not reuse the
    ids of the old one's history.
    """
    utc = fire_time.astimezone(timezone.utc).isoformat()
    return str(uuid.uuid5(_TASK_ID_NAMESPACE, f"{schedule_id}:{schedule_name}:{utc}"))


def build(*, schedule_name: str, execution_id: int, fire_time: datetime) -> dict[str, str]:
    return {
        SCHEDULE: schedule_name,
        EXECUTION: str(execution_id),
        FIRE_TIME: fire_time.isoformat(),
    }


def execution_id_of(request: Any) -> int | None:
    """The execution id a worker-side request carries in our header (None: not a run beat_store sent)."""
    value = getattr(request, EXECUTION, None)
    if value is None:
        for attribute in ("headers", "_request_dict", "request_dict"):
            mapping = getattr(request, attribute, None)
            if isinstance(mapping, dict) and mapping.get(EXECUTION) is not None:
                value = mapping[EXECUTION]
                break
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def is_beat_store_request(request: Any) -> bool:
    """Does a worker-side request (``task.request`` or a worker ``Request``) carry our headers?"""
    if getattr(request, EXECUTION, None) is not None:
        return True
    for attribute in ("headers", "_request_dict", "request_dict"):
        mapping = getattr(request, attribute, None)
        if isinstance(mapping, dict) and EXECUTION in mapping:
            return True
    return False
