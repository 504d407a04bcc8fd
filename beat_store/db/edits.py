"""Edits made without ``Schedule.save()``, seen by beat all the same.

``QuerySet.update()``, raw SQL or another program writing ``beat_store_schedule`` may change a schedule's
timing (``trigger``, ``timezone``, ``start_at``, ``end_at``) without recomputing ``next_fire_at``. Migration
``0007_schedule_edits_without_save`` installs a database trigger, one variant per vendor (PostgreSQL: a
``BEFORE UPDATE`` function; MySQL/MariaDB: a ``BEFORE UPDATE`` trigger; SQLite: an ``AFTER UPDATE`` trigger that
updates the row again): an update that changes those columns and leaves ``next_fire_at`` and ``updated_at`` as they were
empties ``next_fire_at`` and ``finished_at`` (``save()`` always writes ``updated_at``; ``QuerySet.update()`` never
does). The row is then *unplanned*, and beat gives it its next fire time from the
new timing at its next tick (:func:`beat_store.store.plan_new_schedules`), through the same index-backed query as
rows written by ``bulk_create``: no cost per tick that grows with the number of schedules.

The SQL itself is frozen in the migration, as migrations must be.
"""

from __future__ import annotations

from django.db import connection

TRIGGER_NAME = "beat_store_schedule_edited"


def edit_trigger_installed() -> bool:
    """Whether the default database has the trigger (for diagnostics and tests)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT 1 FROM pg_trigger WHERE tgname = %s", [TRIGGER_NAME])
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = %s", [TRIGGER_NAME])
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT 1 FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = %s",
                [TRIGGER_NAME],
            )
        else:
            return False
        return cursor.fetchone() is not None
