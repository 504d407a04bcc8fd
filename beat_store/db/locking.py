"""Claiming rows so that of several beats exactly one works on each.

PostgreSQL and MySQL 8 lock the selected rows and skip those another transaction holds (``FOR UPDATE SKIP
LOCKED OF`` the table itself, not the joined ones). MariaDB (10.6+) has ``SKIP LOCKED`` but no ``OF``: the
claims lock single-table queries, so the plain ``FOR UPDATE SKIP LOCKED`` locks the same rows. SQLite has no
row locks: its write transaction serialises beats, and the conditional ``UPDATE`` that follows each claim
re-checks the rows, so the plain query is enough there.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db import connection
from django.db.models import QuerySet

_Q = TypeVar("_Q", bound=QuerySet[Any])


def skip_locked(queryset: _Q) -> _Q:
    """``queryset`` locked for update, leaving out rows another transaction holds, where the database can."""
    if not connection.features.has_select_for_update_skip_locked:
        return queryset
    if connection.features.has_select_for_update_of:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset.select_for_update(skip_locked=True)
