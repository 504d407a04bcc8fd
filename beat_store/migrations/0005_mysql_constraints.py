# MySQL and MariaDB have no partial indexes: Django skips the conditional unique constraint
# beat_store_one_execution_per_fire_time there and builds the partial indexes without their condition (its checks
# models.W036/W037). Without the constraint, two beats could record one fire time twice. This migration gives
# both a form these servers enforce, and does nothing on other databases:
#
# - a stored generated column, NULL for manual runs, and a unique index on (schedule_id, that column): NULLs
#   never collide, so manual runs may share a fire time while scheduled runs may not;
# - beat_store_sched_due_idx on (paused, next_fire_at) instead of (next_fire_at) alone, so that paused schedules
#   are not read by every due-schedule query.
#
# Adding a stored column rewrites the execution table: on a large history, prune first.

from typing import Any

from django.db import migrations

FIRE_TIME_KEY = "beat_store_one_execution_per_fire_time"
DUE_INDEX = "beat_store_sched_due_idx"


def add_mysql_constraints(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "mysql":
        return
    schema_editor.execute(
        "ALTER TABLE beat_store_execution "
        "ADD COLUMN scheduled_fire_time datetime(6) AS (IF(manual, NULL, fire_time)) STORED, "
        f"ADD UNIQUE INDEX {FIRE_TIME_KEY} (schedule_id, scheduled_fire_time)"
    )
    schema_editor.execute(f"DROP INDEX {DUE_INDEX} ON beat_store_schedule")
    schema_editor.execute(f"CREATE INDEX {DUE_INDEX} ON beat_store_schedule (paused, next_fire_at)")


def remove_mysql_constraints(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "mysql":
        return
    schema_editor.execute(f"DROP INDEX {DUE_INDEX} ON beat_store_schedule")
    schema_editor.execute(f"CREATE INDEX {DUE_INDEX} ON beat_store_schedule (next_fire_at)")
    schema_editor.execute(
        f"ALTER TABLE beat_store_execution DROP INDEX {FIRE_TIME_KEY}, DROP COLUMN scheduled_fire_time"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0004_day_of_week_crontab_numbering"),
    ]

    operations = [migrations.RunPython(add_mysql_constraints, remove_mysql_constraints, atomic=False)]
