# SQLite cannot add a NOT NULL column with a default in place: Django rebuilds the table, and the rebuilt table
# has lost the trigger of migration 0007 (edits made without save() would no longer be planned again). The
# trigger is created again after the rebuild, and, backwards, after the rebuild that removes the column.

import importlib
from typing import Any

from django.db import migrations, models

import beat_store.models

EDITS_MIGRATION = "beat_store.migrations.0007_schedule_edits_without_save"


def recreate_sqlite_edit_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL, MariaDB and MySQL add the column in place: their trigger is still there
    for statement in importlib.import_module(EDITS_MIGRATION).SQLITE_CREATE:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0013_schedule_task_defaults"),
    ]

    operations = [
        # Backwards only: after RemoveField's rebuild (operations are reversed in the opposite order).
        migrations.RunPython(migrations.RunPython.noop, recreate_sqlite_edit_trigger),
        migrations.AddField(
            model_name="schedule",
            name="metadata",
            field=models.JSONField(
                blank=True,
                default=dict,
                encoder=beat_store.models.UnescapedJSONEncoder,
                help_text=(
                    "Your own notes on the schedule (owner, ticket, team...), a JSON object; never sent to the task."
                ),
            ),
        ),
        migrations.RunPython(recreate_sqlite_edit_trigger, migrations.RunPython.noop),
    ]
