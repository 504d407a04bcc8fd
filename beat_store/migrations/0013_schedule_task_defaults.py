# coalesce and max_instances may be unset (NULL): BEAT_STORE_TASK_DEFAULTS, or the built-in default, then applies
# (beat_store.task_defaults). Stored values equal to the old column defaults ('latest', 1) become unset: with no
# task defaults configured nothing changes, and task defaults configured later reach the schedules that never
# chose otherwise.
#
# SQLite cannot change a column's nullability in place: Django rebuilds the table, and the rebuilt table has lost
# the trigger of migration 0007 (edits made without save() would no longer be planned again). The trigger is
# created again after the rebuild, both ways.

import importlib
from typing import Any

import django.core.validators
from django.db import migrations, models

EDITS_MIGRATION = "beat_store.migrations.0007_schedule_edits_without_save"


def recreate_sqlite_edit_trigger(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "sqlite":
        return  # PostgreSQL, MariaDB and MySQL alter the columns in place: their trigger is still there
    for statement in importlib.import_module(EDITS_MIGRATION).SQLITE_CREATE:
        schema_editor.execute(statement)


def unset_old_defaults(apps: Any, schema_editor: Any) -> None:
    schedules = apps.get_model("beat_store", "Schedule").objects.using(schema_editor.connection.alias)
    schedules.filter(coalesce="latest").update(coalesce=None)
    schedules.filter(max_instances=1).update(max_instances=None)


def write_old_defaults(apps: Any, schema_editor: Any) -> None:
    schedules = apps.get_model("beat_store", "Schedule").objects.using(schema_editor.connection.alias)
    schedules.filter(coalesce__isnull=True).update(coalesce="latest")
    schedules.filter(max_instances__isnull=True).update(max_instances=1)


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0012_schedule_source_file"),
    ]

    operations = [
        # Backwards only: after the rebuilds that make the columns NOT NULL again (operations run in reverse).
        migrations.RunPython(migrations.RunPython.noop, recreate_sqlite_edit_trigger),
        migrations.AlterField(
            model_name="schedule",
            name="coalesce",
            field=models.CharField(
                blank=True,
                choices=[
                    ("latest", "latest: one run for the latest missed fire time"),
                    ("earliest", "earliest: one run for the earliest missed fire time"),
                    ("all", "all: one run for every missed fire time"),
                ],
                default=None,
                help_text="Which of several fire times missed together become runs; empty: the task's default, else "
                "latest.",
                max_length=10,
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="schedule",
            name="max_instances",
            field=models.PositiveIntegerField(
                blank=True,
                default=None,
                help_text="Runs of this schedule that may be open at once; a run beyond it is skipped. Empty: the "
                "task's default, else 1.",
                null=True,
                validators=[django.core.validators.MinValueValidator(1)],
            ),
        ),
        migrations.RunPython(recreate_sqlite_edit_trigger, migrations.RunPython.noop),
        migrations.RunPython(unset_old_defaults, write_old_defaults),
    ]
