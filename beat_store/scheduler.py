"""``celery beat -S beat_store.Scheduler``: adapts Celery's beat service to the beat engine.

Celery's ``Scheduler`` contract is small: ``setup_schedule`` at start, ``tick() -> seconds to sleep``, ``close``
and ``info``. Each is one call into :class:`beat_store.engine.BeatEngine` (or, at start, the sync of declared
schedules); the loop, its timing and everything it reads or writes live there.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import beat
from django.db import connection

from beat_store.db.support import UnsupportedDatabase, ensure_supported

if TYPE_CHECKING:  # the engine imports models; see Scheduler._start_engine for why that waits
    from beat_store.engine import BeatEngine

logger = logging.getLogger(__name__)


class Scheduler(beat.Scheduler):
    """Keeps no schedules in memory: each tick reads the due ones from the database."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self._engine: BeatEngine | None = None
        super().__init__(app, *args, **kwargs)

    def setup_schedule(self) -> None:
        try:
            ensure_supported(connection)
        except UnsupportedDatabase as error:
            # Beat stops at once with one line, rather than ticking into the same failure forever.
            logger.critical("beat_store: %s", error)
            raise SystemExit(f"beat_store: {error}") from None
        # Imported here for the reason given in _start_engine: Celery loads this module before Django is set up.
        from beat_store import task_defaults
        from beat_store.conf import settings

        wrong_defaults = task_defaults.problems(settings.TASK_DEFAULTS)
        if wrong_defaults:
            # Not ignored here as the admin does: beat would then run every schedule with other timing than meant.
            message = "BEAT_STORE_TASK_DEFAULTS: " + "; ".join(wrong_defaults)
            logger.critical("beat_store: %s", message)
            raise SystemExit(f"beat_store: {message}")
        engine = self._start_engine()
        # Same reason as in _start_engine: the sync writes models, so it is imported once Django is ready.
        from beat_store.declared import sync_declared_schedules

        report = sync_declared_schedules(self.app)
        logger.info(
            "beat_store: synced %d schedule(s) from settings and schedule files, removed %d, refused %d, "
            "files not read %d (beat %s)",
            len(report.saved),
            len(report.removed),
            len(report.refused) + len(report.file_refused),
            len(report.unreadable),
            engine.owner,
        )

    def tick(self, *args: Any, **kwargs: Any) -> float:
        return self._start_engine().tick()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()

    @property
    def owner(self) -> str:
        return self._start_engine().owner

    # Celery's beat keeps its entries in a dict; ours live in the database.
    @property
    def schedule(self) -> dict[str, Any]:  # type: ignore[override]
        return {}

    def sync(self) -> None:
        pass

    @property
    def info(self) -> str:
        return f"    . db -> {connection.vendor} ({connection.settings_dict.get('NAME')})\n    . owner -> {self.owner}"

    def _start_engine(self) -> BeatEngine:
        if self._engine is None:
            # Imported here, not at the top: Celery may import this module (through `-S beat_store.Scheduler`)
            # before Django is set up, and the engine imports models. By setup_schedule, Django is ready.
            from beat_store.engine import BeatEngine
            from beat_store.sending import CelerySender
            from beat_store.worker_liveness import CeleryInspector, WorkerLiveness

            self._engine = BeatEngine(sender=CelerySender(self.app), liveness=WorkerLiveness(CeleryInspector(self.app)))
        return self._engine
