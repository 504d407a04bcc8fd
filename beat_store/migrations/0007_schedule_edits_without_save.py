# Edits made without Schedule.save() -- QuerySet.update(), raw SQL, another program writing the table -- change a
# schedule's timing but leave its next_fire_at as it was, so beat would wait for the old fire time (docs/spec.md
# rule 9; django-celery-beat #694). A database trigger catches them where they happen: an UPDATE that changes
# `trigger`, `timezone`, `start_at` or `end_at` and leaves both `next_fire_at` and `updated_at` alone empties
# `next_fire_at` (and `finished_at`), and beat plans the row again within a second, as it does rows written by
# bulk_create(). save() always writes `updated_at` (auto_now) with the next fire time it computed, so it is never
# affected; QuerySet.update() never writes `updated_at`, so it always is. `paused` needs no trigger: the due query
# reads it.
#
# The SQL lives here, frozen with the migration; beat_store/db/edits.py documents it.

from typing import Any

from django.db import migrations

TRIGGER = "beat_store_schedule_edited"
FUNCTION = "beat_store_schedule_edited_fn"
TABLE = "beat_store_schedule"

POSTGRESQL_CREATE = [
    f"""
    CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger AS $$
    BEGIN
        IF (NEW."trigger" IS DISTINCT FROM OLD."trigger" OR NEW.timezone IS DISTINCT FROM OLD.timezone
            OR NEW.start_at IS DISTINCT FROM OLD.start_at OR NEW.end_at IS DISTINCT FROM OLD.end_at)
           AND NEW.next_fire_at IS NOT DISTINCT FROM OLD.next_fire_at
           AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
            NEW.next_fire_at := NULL;
            NEW.finished_at := NULL;
        END IF;
        RETURN NEW;
    END;
    $$ LANGUAGE plpgsql
    """,
    f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}",
    f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON {TABLE} FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()",
]
POSTGRESQL_DROP = [f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}", f"DROP FUNCTION IF EXISTS {FUNCTION}()"]

# SQLite cannot assign NEW in a BEFORE trigger: an AFTER trigger updates the row again (recursive triggers are
# off, so that second UPDATE does not fire it again).
SQLITE_CREATE = [
    f"DROP TRIGGER IF EXISTS {TRIGGER}",
    f"""
    CREATE TRIGGER {TRIGGER} AFTER UPDATE OF "trigger", timezone, start_at, end_at ON {TABLE}
    FOR EACH ROW
    WHEN (NEW."trigger" IS NOT OLD."trigger" OR NEW.timezone IS NOT OLD.timezone
          OR NEW.start_at IS NOT OLD.start_at OR NEW.end_at IS NOT OLD.end_at)
         AND NEW.next_fire_at IS OLD.next_fire_at AND NEW.updated_at IS OLD.updated_at
    BEGIN
        UPDATE {TABLE} SET next_fire_at = NULL, finished_at = NULL WHERE id = NEW.id;
    END
    """,
]
SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {TRIGGER}"]

MYSQL_CREATE = [
    f"DROP TRIGGER IF EXISTS {TRIGGER}",
    f"""
    CREATE TRIGGER {TRIGGER} BEFORE UPDATE ON {TABLE} FOR EACH ROW
    BEGIN
        IF (NOT (NEW.`trigger` <=> OLD.`trigger`) OR NOT (NEW.timezone <=> OLD.timezone)
            OR NOT (NEW.start_at <=> OLD.start_at) OR NOT (NEW.end_at <=> OLD.end_at))
           AND (NEW.next_fire_at <=> OLD.next_fire_at) AND (NEW.updated_at <=> OLD.updated_at) THEN
            SET NEW.next_fire_at = NULL, NEW.finished_at = NULL;
        END IF;
    END
    """,
]
MYSQL_DROP = [f"DROP TRIGGER IF EXISTS {TRIGGER}"]

STATEMENTS = {
    "postgresql": (POSTGRESQL_CREATE, POSTGRESQL_DROP),
    "sqlite": (SQLITE_CREATE, SQLITE_DROP),
    "mysql": (MYSQL_CREATE, MYSQL_DROP),
}


def create_trigger(apps: Any, schema_editor: Any) -> None:
    create, _ = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for statement in create:
        schema_editor.execute(statement)


def drop_trigger(apps: Any, schema_editor: Any) -> None:
    _, drop = STATEMENTS.get(schema_editor.connection.vendor, ([], []))
    for statement in drop:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0006_execution_retries"),
    ]

    operations = [migrations.RunPython(create_trigger, drop_trigger, atomic=False)]
