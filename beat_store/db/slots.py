"""Counting the max-instances slots a schedule's runs hold, through the index that holds only them.

A run holds a slot while it is sent, started or retrying, or pending and not staged ahead
(``models.HOLDS_SLOT``). Migration 0016 indexes exactly those runs: a partial index on ``schedule_id`` on
PostgreSQL and SQLite, whose condition the query repeats so that the planner may use it, and on MySQL/MariaDB an
index on the generated column ``slot_schedule_id`` (the schedule's id for such a run, NULL otherwise). Either way a
count reads a few index entries per schedule, however long its history and however large the herd in flight.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection

from beat_store.db.bulk import in_ids
from beat_store.enums import ExecutionStatus as S
from beat_store.models import STAGED, Execution

#: The generated column migration 0016 adds on MySQL/MariaDB.
MYSQL_SLOT_COLUMN = "slot_schedule_id"


def count_slots(schedule_ids: Sequence[int]) -> dict[int, int]:
    """Runs holding a max-instances slot, per schedule of ``schedule_ids`` (schedules with none are left out)."""
    if not schedule_ids:
        return {}
    table = connection.ops.quote_name(Execution._meta.db_table)
    if connection.vendor == "mysql":
        column = connection.ops.quote_name(MYSQL_SLOT_COLUMN)
        these, params = in_ids(column, schedule_ids)
        sql = f"SELECT {column}, COUNT(*) FROM {table} WHERE {these} GROUP BY {column}"
    else:
        these, params = in_ids("schedule_id", schedule_ids)
        sql = (
            f"SELECT schedule_id, COUNT(*) FROM {table} WHERE {these} "
            "AND (status IN (%s, %s, %s) OR (status = %s AND NOT (lease_owner = %s))) GROUP BY schedule_id"
        )
        params += [str(S.SENT), str(S.STARTED), str(S.RETRYING), str(S.PENDING), STAGED]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())
