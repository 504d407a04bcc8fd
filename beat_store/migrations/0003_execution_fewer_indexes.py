# Runs are written in herds, and every index of the execution table is written again for each run recorded or
# updated. This drops the three that served nothing:
#
# - the foreign key's own index on schedule_id: beat_store_exec_history_idx, on (schedule, -fire_time), serves
#   every lookup by schedule. Only the index is dropped: a plain AlterField would also drop and re-add the
#   foreign key constraint, which re-validates every row of what can be a very large table;
# - on PostgreSQL, the "_like" (varchar_pattern_ops) twins Django adds to db_index CharFields, for prefix
#   searches beat_store never makes: task_id and schedule_name keep a plain index each.

from typing import Any

import django.db.models.deletion
from django.db import migrations, models

SCHEDULE_INDEX = "beat_store_execution_schedule_id_6a701f61"  # the name 0001 gave it (derived from table, column)


def drop_schedule_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "mysql":
        # InnoDB made this index itself for the foreign key, under the constraint's name; it lets it go now that
        # beat_store_exec_history_idx starts with the same column.
        for name in _single_column_indexes(schema_editor, "schedule_id"):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)} ON beat_store_execution")
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(SCHEDULE_INDEX)}")


def create_schedule_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "mysql":
        return  # the foreign key is served by beat_store_exec_history_idx
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(SCHEDULE_INDEX)} ON beat_store_execution (schedule_id)"
    )


def _single_column_indexes(schema_editor: Any, column: str) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, "beat_store_execution")
    return [
        name
        for name, details in constraints.items()
        if details["index"] and not details["unique"] and not details["primary_key"] and details["columns"] == [column]
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0002_execution_publish_attempted_at_and_recent_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="execution",
                    name="schedule",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="executions",
                        to="beat_store.schedule",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_schedule_index, create_schedule_index, atomic=False)],
        ),
        migrations.AlterField(
            model_name="execution",
            name="schedule_name",
            field=models.CharField(help_text="Kept when the schedule is deleted.", max_length=200),
        ),
        migrations.AlterField(
            model_name="execution",
            name="task_id",
            field=models.CharField(max_length=255),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(fields=["task_id"], name="beat_store_exec_task_id_idx"),
        ),
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(fields=["schedule_name"], name="beat_store_exec_sched_name_idx"),
        ),
    ]
