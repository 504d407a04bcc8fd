"""Sentry Crons check-ins for beat_store's runs (``BEAT_STORE_SENTRY_CRONS``; needs ``sentry-sdk``).

sentry-sdk's Celery integration monitors beat by patching Celery's ``Scheduler.apply_entry``, which beat_store
never calls; so beat_store reports check-ins itself, from :data:`beat_store.signals.run_changed`: in the worker,
``in_progress`` when a run starts and ``ok``/``error`` when it ends; in beat, ``error`` when it records a run
``missed``, ``skipped`` or ``lost`` (the SDK's check-in statuses are these three; Sentry itself marks a check-in
"missed" when none arrives in time). The check-in id is the run's task id, so start and end need no shared
state. The monitor's schedule and zone come from the trigger: a crontab or whole-minute interval; a trigger
Sentry cannot express (date, combinations, calendar intervals, seconds) is logged once, and its check-ins go
without a monitor configuration (create that monitor in Sentry by hand).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from beat_store.conf import settings
from beat_store.models import Schedule
from beat_store.signals import run_changed
from beat_store.triggers.cron_syntax import CRON_FIELD_NAMES

logger = logging.getLogger(__name__)

#: Status a run enters -> the check-in status reported (others report nothing).
CHECK_IN_STATUS = {
    "started": "in_progress",
    "succeeded": "ok",
    "failed": "error",
    "missed": "error",
    "skipped": "error",
    "lost": "error",
}
_INTERVAL_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60))
_reported_unexpressible: set[str] = set()


def monitor_slug(schedule_name: str) -> str:
    """Sentry's monitor slug of a schedule: lowercase letters, digits, ``-`` and ``_``, at most 50 characters."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", schedule_name.lower()).strip("-")
    return slug[:50] or "beat-store"


def monitored(schedule_name: str) -> bool:
    """``BEAT_STORE_SENTRY_CRONS``: ``True`` for every schedule, or a collection of the names that opt in."""
    setting = settings.SENTRY_CRONS
    if isinstance(setting, bool):
        return setting
    return schedule_name in setting


def monitor_config(schedule: Schedule) -> dict[str, Any] | None:
    """The monitor's schedule (crontab or interval), zone and margin; None when Sentry cannot express it."""
    spec = schedule.trigger if isinstance(schedule.trigger, dict) else {}
    sentry_schedule = _crontab(spec) if spec.get("type") == "cron" else _interval(spec)
    if sentry_schedule is None:
        return None
    config: dict[str, Any] = {"schedule": sentry_schedule, "timezone": schedule.timezone}
    if grace := schedule.option("misfire_grace_time"):
        config["checkin_margin"] = max(1, -(-int(grace) // 60))  # whole minutes, rounded up
    return config


def _crontab(spec: dict[str, Any]) -> dict[str, str] | None:
    if "expression" in spec:
        return {"type": "crontab", "value": str(spec["expression"])}
    fields = {name: str(spec[name]) for name in CRON_FIELD_NAMES if name in spec}
    if set(fields) - {"minute", "hour", "day", "month", "day_of_week"}:
        return None  # seconds, weeks or years: no crontab equivalent
    parts = [fields.get(name, "*") for name in ("minute", "hour", "day", "month")]
    # beat_store's numeric weekdays follow crontab since #13 (0 and 7 are Sunday), as Sentry reads them.
    parts.append(fields.get("day_of_week", "*"))
    if "minute" not in fields:
        return None  # APScheduler's default minute is "*" only when a coarser field is set: ambiguous, skip
    return {"type": "crontab", "value": " ".join(parts)}


def _interval(spec: dict[str, Any]) -> dict[str, Any] | None:
    if spec.get("type") != "interval":
        return None
    seconds = (
        spec.get("weeks", 0) * 604_800
        + spec.get("days", 0) * 86_400
        + spec.get("hours", 0) * 3_600
        + spec.get("minutes", 0) * 60
        + spec.get("seconds", 0)
    )
    for unit, size in _INTERVAL_UNITS:
        if seconds >= size and seconds % size == 0:
            return {"type": "interval", "value": int(seconds // size), "unit": unit}
    return None


def on_run_changed(sender: Any, schedule_name: str, task_id: str, status: str, **kwargs: Any) -> None:
    check_in = CHECK_IN_STATUS.get(status)
    if check_in is None or not monitored(schedule_name):
        return
    from sentry_sdk.crons import capture_checkin

    schedule = Schedule.objects.filter(name=schedule_name).only("trigger", "timezone", "misfire_grace_time").first()
    config = monitor_config(schedule) if schedule is not None else None
    if schedule is not None and config is None and schedule_name not in _reported_unexpressible:
        _reported_unexpressible.add(schedule_name)
        logger.warning(
            "beat_store: Sentry Crons cannot express the trigger of %r (%s); its check-ins are sent without a "
            "monitor schedule: configure that monitor in Sentry",
            schedule_name,
            schedule.trigger.get("type") if isinstance(schedule.trigger, dict) else schedule.trigger,
            extra={"action": "sentry_unexpressible"},
        )
    capture_checkin(
        monitor_slug=monitor_slug(schedule_name),
        check_in_id=uuid.UUID(task_id).hex if _is_uuid(task_id) else None,
        status=check_in,
        monitor_config=config,  # type: ignore[arg-type]
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def connect() -> None:
    """Report check-ins when ``BEAT_STORE_SENTRY_CRONS`` is set (called from ``AppConfig.ready``)."""
    if not settings.SENTRY_CRONS:
        return
    try:
        import sentry_sdk  # noqa: F401
    except ImportError:
        logger.warning(
            "beat_store: BEAT_STORE_SENTRY_CRONS is set but sentry-sdk is not installed: pip install "
            "'beat_store[sentry]'; no check-ins are sent",
            extra={"action": "sentry_missing"},
        )
        return
    run_changed.connect(on_run_changed, weak=False, dispatch_uid="beat_store.sentry_crons")


def disconnect() -> None:
    run_changed.disconnect(dispatch_uid="beat_store.sentry_crons")
