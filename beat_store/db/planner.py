"""Hints to the query planner, where one database needs them.

PostgreSQL compiles a query with LLVM (JIT) when its estimated cost passes ``jit_above_cost``. A batch query
that stops after a ``LIMIT`` of rows through an index is estimated as if it read the whole index, so it passes
that mark although it reads a few hundred rows: the compilation then costs about 11 ms, more than the query
itself (measured on retention's batch, docs/benchmarks.md). Other databases have no JIT.
"""

from __future__ import annotations

from django.db import connection


def without_jit() -> None:
    """Turn PostgreSQL's JIT off until the current transaction ends (call it inside ``transaction.atomic``)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
