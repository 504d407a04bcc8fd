"""Migration 0012 adds ``Schedule.metadata``; on SQLite that rebuilds the table, which must keep migration 0007's
trigger (edits made without save() are planned again), forwards and backwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from beat_store.db.edits import edit_trigger_installed

APP = "beat_store"
BEFORE = (APP, "0011_schedule_keep_runs_days_index")
AFTER = (APP, "0012_schedule_metadata")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def executor() -> Iterator[MigrationExecutor]:
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes(APP)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(leaves)


def migrate(executor: MigrationExecutor, target: tuple[str, str]) -> None:
    executor.loader.build_graph()
    executor.migrate([target])


def metadata_column_exists() -> bool:
    with connection.cursor() as cursor:
        columns = connection.introspection.get_table_description(cursor, "beat_store_schedule")
    return "metadata" in {column.name for column in columns}


def test_backwards_then_forwards_keeps_the_edit_trigger(executor: MigrationExecutor) -> None:
    migrate(executor, BEFORE)
    assert not metadata_column_exists()
    assert edit_trigger_installed()

    migrate(executor, AFTER)

    assert metadata_column_exists()
    assert edit_trigger_installed()
