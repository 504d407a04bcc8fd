"""Typed, lazy access to the ``BEAT_STORE_*`` settings: the only module that reads them."""

from __future__ import annotations

import os
from typing import Any

from celery import current_app
from django.conf import settings as django_settings

from beat_store.planning import DEFAULT_MAX_CATCH_UP

#: Settings earlier versions read: PLAN_AHEAD (runs planned ahead and held in beat memory, experimental).
_RETIRED_SETTINGS = ("PLAN_AHEAD",)


_NO_TASK_DEFAULTS: dict[str, Any] = {}


class BeatStoreSettings:
    """Each property reads Django settings when asked, so ``override_settings`` works in tests."""

    def _get(self, name: str, default: Any) -> Any:
        return getattr(django_settings, f"BEAT_STORE_{name}", default)

    @property
    def SCHEDULES(self) -> dict[str, dict[str, Any]]:
        """Schedules declared in settings: name -> fields (with a ``trigger`` spec)."""
        return dict(self._get("SCHEDULES", {}))

    @property
    def SCHEDULE_FILES(self) -> tuple[str, ...]:
        """Files of schedules (INI, JSON, YAML) beat syncs at start like ``SCHEDULES``, as written in settings."""
        value = self._get("SCHEDULE_FILES", ())
        if isinstance(value, str | os.PathLike):  # one path given alone, not in a list
            value = (value,)
        return tuple(str(os.fspath(path)) for path in value)

    @property
    def MAX_POLL_INTERVAL(self) -> float:
        """Longest sleep between two ticks, in seconds: how soon an edit made elsewhere is seen."""
        return float(self._get("MAX_POLL_INTERVAL", 1.0))

    @property
    def WAKEUPS(self) -> str | None:
        """Optional instant wake-ups on schedule changes: ``"postgres"`` (LISTEN/NOTIFY) or a ``redis://`` URL."""
        value = self._get("WAKEUPS", None)
        return str(value) if value else None

    @property
    def BATCH_SIZE(self) -> int:
        """How many due schedules (or pending runs) one tick claims per database round trip; also how many
        runs go to the broker per pipelined round trip and are marked sent together."""
        return int(self._get("BATCH_SIZE", 500))

    @property
    def PREPARE_AHEAD(self) -> float:
        """Seconds before their fire time that runs are decided and their messages staged in the broker, to be
        released at the fire time (``beat_store.staging``); 0 turns it off. Used where the broker is Redis and the
        database is PostgreSQL or MySQL/MariaDB."""
        return float(self._get("PREPARE_AHEAD", 30.0))

    @property
    def MAX_CATCH_UP(self) -> int:
        """Past fire times iterated one by one before the rest of the downtime is skipped in one step."""
        return int(self._get("MAX_CATCH_UP", DEFAULT_MAX_CATCH_UP))

    @property
    def TRIGGER_TIME_BUDGET(self) -> float:
        """Seconds one fire-time computation may take (validation, previews, beat) before the trigger is refused
        as too costly (``TriggerTooSlow``)."""
        return float(self._get("TRIGGER_TIME_BUDGET", 0.5))

    @property
    def PLAN_TIME_BUDGET(self) -> float:
        """Seconds beat may spend on one schedule's fire times in one tick, catch-up included, before it pauses
        that schedule (``last_error``) so that the others keep firing."""
        return float(self._get("PLAN_TIME_BUDGET", 1.0))

    @property
    def METRICS_WINDOW(self) -> float:
        """Seconds of recent runs the metrics count by status and lateness (``beat_store.metrics``)."""
        return float(self._get("METRICS_WINDOW", 60))

    @property
    def METRICS_TOKEN(self) -> str | None:
        """A bearer token that may read the metrics view without a staff login (``None``: staff only)."""
        value = self._get("METRICS_TOKEN", None)
        return str(value) if value else None

    @property
    def METRICS_SCHEDULES(self) -> tuple[str, ...]:
        """Names, or ``*``/``?`` glob patterns of names, of the schedules that get per-schedule metric series."""
        value = self._get("METRICS_SCHEDULES", ())
        return (value,) if isinstance(value, str) else tuple(str(pattern) for pattern in value)

    @property
    def TASK_DEFAULTS(self) -> Any:
        """Task name or glob pattern -> defaults for the fields a schedule leaves unset (``task_defaults``). The
        value itself, not a copy: ``task_defaults`` compiles it once per value."""
        return self._get("TASK_DEFAULTS", _NO_TASK_DEFAULTS)

    @property
    def SENTRY_CRONS(self) -> bool | frozenset[str]:
        """Sentry Crons check-ins (``beat_store.sentry_crons``): ``True`` for every schedule, or the names of the
        schedules that opt in; ``False`` (default): none."""
        value = self._get("SENTRY_CRONS", False)
        if value is True or not value:
            return bool(value)
        return frozenset(value)

    @property
    def LEASE_SECONDS(self) -> float:
        """How long a beat may hold a claimed pending run before another beat may send it."""
        return float(self._get("LEASE_SECONDS", 30.0))

    @property
    def LOST_AFTER(self) -> float:
        """Seconds after which an open execution with no news from its worker is marked ``lost``."""
        return float(self._get("LOST_AFTER", 6 * 3600))

    @property
    def WORKER_CHECK_INTERVAL(self) -> float:
        """Seconds between two checks of which started runs their workers still run (``None``/0: no checks)."""
        value = self._get("WORKER_CHECK_INTERVAL", 30.0)
        return float(value) if value else 0.0

    @property
    def KEEP_RUNS_DAYS(self) -> float | None:
        """Days finished runs are kept before beat deletes them (a schedule's ``keep_runs_days`` overrides it);
        ``None`` keeps them forever."""
        value = self._get("KEEP_RUNS_DAYS", 30)
        return None if value is None else float(value)

    @property
    def KEEP_LAST_RUNS(self) -> int:
        """Runs of each schedule kept whatever their age, so rare schedules keep a history to show."""
        return int(self._get("KEEP_LAST_RUNS", 50))

    @property
    def PRUNE_BATCH(self) -> int:
        """Most runs one beat deletes in one go, between ticks; a full batch is followed by another a quarter of a
        second later while nothing is due."""
        return int(self._get("PRUNE_BATCH", 100))

    @property
    def RETIRED(self) -> list[str]:
        """``BEAT_STORE_*`` settings that are still set but no longer read (a system check warns)."""
        return [f"BEAT_STORE_{name}" for name in _RETIRED_SETTINGS if hasattr(django_settings, f"BEAT_STORE_{name}")]

    @property
    def ALLOW_UNREGISTERED_TASKS(self) -> bool:
        """Accept task names the Celery app does not know (e.g. tasks only some workers import)."""
        return bool(self._get("ALLOW_UNREGISTERED_TASKS", False))

    @property
    def RESULT_MAX_LENGTH(self) -> int:
        """Longest ``Execution.result`` text kept (the repr of the task's return value)."""
        return int(self._get("RESULT_MAX_LENGTH", 1000))

    @property
    def DEFAULT_TIMEZONE(self) -> str:
        """Zone of schedules that name none: Celery's ``timezone`` setting, else Django's ``TIME_ZONE``."""
        explicit = self._get("DEFAULT_TIMEZONE", None)
        if explicit:
            return str(explicit)
        celery_zone = getattr(django_settings, "CELERY_TIMEZONE", None)
        if not celery_zone:
            celery_zone = current_app.conf.timezone
        return str(celery_zone or django_settings.TIME_ZONE or "UTC")


settings = BeatStoreSettings()
