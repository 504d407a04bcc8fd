"""Migration 0014 adds ``Schedule.metadata``; on SQLite that rebuilds the table, which must keep migration 0007's
trigger (edits made without save() are planned again), forwards and backwards."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from beat_store.db.edits import edit_trigger_installed
from tests.integration.migrating import APP, migrate

BEFORE = (APP, "0013_schedule_task_defaults")
AFTER = (APP, "0014_schedule_metadata")

pytestmark = pytest.mark.django_db(transaction=True)


def metadata_column_exists() -> bool:
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, "beat_store_schedule")
    return "metadata" in {column.name for column in columns}


def test_backwards_then_forwards_keeps_the_edit_trigger(migration_executor: MigrationExecutor) -> None:
    migrate(migration_executor, BEFORE)
    assert not metadata_column_exists()
    assert edit_trigger_installed()

    migrate(migration_executor, AFTER)

    assert metadata_column_exists()
    assert edit_trigger_installed()
