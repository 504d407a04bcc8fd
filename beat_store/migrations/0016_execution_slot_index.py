# The max-instances slots of a schedule (its runs sent, started, retrying, or pending and not staged ahead) are
# counted for every batch of a herd. Counted through the (status, send_at) or history index, that read every open
# run of the herd, or every run a schedule ever had, per batch. A partial index holds only the runs with a slot.
#
# MySQL and MariaDB have no partial indexes (Django would build a plain one on schedule_id, which the history index
# already is): there the index is on a virtual generated column, schedule_id for a run holding a slot and NULL
# otherwise, which ``beat_store.db.slots`` counts by. Virtual: adding it does not rewrite the execution table.

from typing import Any

from django.db import migrations, models

SLOT_INDEX = "beat_store_exec_slot_idx"
MYSQL_SLOT_COLUMN = "slot_schedule_id"


def build_mysql_slot_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "mysql":
        return
    schema_editor.execute(f"DROP INDEX {SLOT_INDEX} ON beat_store_execution")  # Django's, without its condition
    schema_editor.execute(
        f"ALTER TABLE beat_store_execution ADD COLUMN {MYSQL_SLOT_COLUMN} bigint AS (IF("
        "status IN ('sent', 'started', 'retrying') OR (status = 'pending' AND lease_owner <> 'beat_store:staged'), "
        f"schedule_id, NULL)) VIRTUAL, ADD INDEX {SLOT_INDEX} ({MYSQL_SLOT_COLUMN})"
    )


def drop_mysql_slot_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "mysql":
        return
    schema_editor.execute(f"ALTER TABLE beat_store_execution DROP INDEX {SLOT_INDEX}, DROP COLUMN {MYSQL_SLOT_COLUMN}")
    schema_editor.execute(f"CREATE INDEX {SLOT_INDEX} ON beat_store_execution (schedule_id)")  # for RemoveIndex


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0015_execution_staged_at"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="execution",
            index=models.Index(
                condition=models.Q(("status__in", ["sent", "started", "retrying"]))
                | models.Q(("status", "pending"), models.Q(("lease_owner", "beat_store:staged"), _negated=True)),
                fields=["schedule"],
                name=SLOT_INDEX,
            ),
        ),
        migrations.RunPython(build_mysql_slot_index, drop_mysql_slot_index, atomic=False),
    ]
