"""Partial indexes and conditional unique constraints on databases that have none (MySQL, MariaDB).

There Django skips a conditional unique constraint (check ``models.W036``) and builds a partial index without its
condition (check ``models.W037``). beat_store's migration ``0005_mysql_constraints`` gives them forms these
servers enforce:

- ``beat_store_one_execution_per_fire_time``: a unique index on ``(schedule_id, scheduled_fire_time)``, a stored
  generated column that is NULL for manual runs;
- ``beat_store_sched_due_idx``: on ``(paused, next_fire_at)``, so paused schedules stay out of the due query
  (it also serves the unplanned query, ``next_fire_at IS NULL``; ``beat_store_sched_unplanned_idx`` is left
  as Django builds it, a plain index).

So those two warnings would only mislead there; :func:`without_replaced_warnings` drops them from the models'
own checks.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core import checks

REPLACED_ON_MYSQL = frozenset({"models.W036", "models.W037"})


def without_replaced_warnings(messages: Iterable[checks.CheckMessage]) -> list[checks.CheckMessage]:
    """``messages`` less the warnings about what migration 0005 builds another way."""
    return [message for message in messages if message.id not in REPLACED_ON_MYSQL]
