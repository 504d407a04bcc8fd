"""Running beat_store's migrations back and forth on the test database, for the tests of data migrations (with
the ``migration_executor`` fixture of conftest.py, which migrates forwards again afterwards)."""

from __future__ import annotations

from typing import Any

from django.db.migrations.executor import MigrationExecutor

APP = "beat_store"


def migrate(executor: MigrationExecutor, target: tuple[str, str]) -> Any:
    """Migrate the test database to ``target``; the Schedule model as it is there."""
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps.get_model(APP, "Schedule")
