"""Migration 0013 lets coalesce and max_instances be unset (for BEAT_STORE_TASK_DEFAULTS), forwards and backwards
(#13): values equal to the old column defaults become unset, chosen ones stay, and SQLite's table rebuild keeps
the edit trigger of migration 0007."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.migrations.executor import MigrationExecutor

from beat_store.db.edits import edit_trigger_installed
from tests.integration.migrating import APP, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = (APP, "0012_schedule_source_file")
UNSETTABLE = (APP, "0013_schedule_task_defaults")
HOURLY = {"type": "interval", "hours": 1}


def add(schedule_model: Any, name: str, *, coalesce: str, max_instances: int) -> None:
    schedule_model.objects.create(
        name=name,
        task="proj.tasks.report",
        trigger=HOURLY,
        trigger_kind="interval",
        coalesce=coalesce,
        max_instances=max_instances,
    )


def policies(schedule_model: Any) -> dict[str, tuple[Any, Any]]:
    return {
        name: (coalesce, instances)
        for name, coalesce, instances in schedule_model.objects.values_list("name", "coalesce", "max_instances")
    }


def test_old_defaults_become_unset_and_come_back_backwards(migration_executor: MigrationExecutor) -> None:
    old_model = migrate(migration_executor, BEFORE)
    add(old_model, "defaults", coalesce="latest", max_instances=1)
    add(old_model, "chosen", coalesce="earliest", max_instances=3)

    new_model = migrate(migration_executor, UNSETTABLE)
    forwards = policies(new_model)
    trigger_after_forwards = edit_trigger_installed()
    back_model = migrate(migration_executor, BEFORE)

    assert forwards == {"defaults": (None, None), "chosen": ("earliest", 3)}
    assert trigger_after_forwards
    assert policies(back_model) == {"defaults": ("latest", 1), "chosen": ("earliest", 3)}
    assert edit_trigger_installed()
