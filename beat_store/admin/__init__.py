"""The Django admin of beat_store: schedules (with trigger editor, preview, actions) and executions."""

from __future__ import annotations

from beat_store.admin.executions import ExecutionAdmin
from beat_store.admin.schedules import ScheduleAdmin

__all__ = ["ExecutionAdmin", "ScheduleAdmin"]
