"""Bounded history: beat deletes finished runs older than their schedule's retention, a batch at a time.

- How long: ``BEAT_STORE_KEEP_RUNS_DAYS`` (default 30; ``None`` keeps everything), or a schedule's own
  ``keep_runs_days``. Age is the run's fire time, the column the history is indexed by.
- Never open runs (pending, sent, started, retrying: they hold max-instances slots), and never the newest
  ``BEAT_STORE_KEEP_LAST_RUNS`` runs of a schedule (default 50, what the admin's chart shows), so a rare
  schedule keeps a history however old it is. Runs of deleted schedules follow the setting.
- Cost: at most ``BEAT_STORE_PRUNE_BATCH`` rows per call, chosen with ``FOR UPDATE SKIP LOCKED``, so several
  beats prune different rows and none waits for another. The engine calls it only when the next fire or send
  time is at least a second away, never inside a herd (see ``beat_store.engine``).

``manage.py beat_store_prune`` and the admin's prune page still delete by age on demand (``beat_store.pruning``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import OuterRef, Q, Subquery

from beat_store.conf import settings
from beat_store.db.locking import skip_locked
from beat_store.db.planner import without_jit
from beat_store.enums import ExecutionStatus
from beat_store.models import Execution, Schedule


def prune_batch(now: datetime, *, limit: int) -> int:
    """Delete up to ``limit`` runs that retention no longer keeps; return how many were deleted."""
    deleted = 0
    for cutoff, which in _policies(now):
        if deleted >= limit:
            break
        deleted += _prune(cutoff, which, limit=limit - deleted)
    return deleted


def _policies(now: datetime) -> list[tuple[datetime, Q]]:
    """(cutoff, which runs) per retention in use: each override, then the default for every other run.

    Schedules are matched by id, never joined: the lock taken on the runs must not reach schedule rows, which
    beats claim (MariaDB cannot limit ``FOR UPDATE`` to one table).
    """
    by_days: defaultdict[int, list[int]] = defaultdict(list)
    for schedule_id, days in Schedule.objects.exclude(keep_runs_days=None).values_list("id", "keep_runs_days"):
        if days is not None:  # excluded above; says so to the type checker
            by_days[days].append(schedule_id)
    policies = [(now - timedelta(days=days), Q(schedule_id__in=ids)) for days, ids in sorted(by_days.items())]
    if settings.KEEP_RUNS_DAYS is not None:
        overridden = [schedule_id for ids in by_days.values() for schedule_id in ids]
        policies.append((now - timedelta(days=settings.KEEP_RUNS_DAYS), ~Q(schedule_id__in=overridden)))
    return policies


def _prune(cutoff: datetime, which: Q, *, limit: int) -> int:
    old = (
        Execution.objects.filter(which, _beyond_the_last_kept(settings.KEEP_LAST_RUNS), fire_time__lt=cutoff)
        .exclude(status__in=ExecutionStatus.open_values())
        .order_by("fire_time")
    )
    with transaction.atomic():
        without_jit()
        ids = list(skip_locked(old).values_list("id", flat=True)[:limit])
        if not ids:
            return 0
        deleted, _ = Execution.objects.filter(id__in=ids).delete()
    return deleted


def _beyond_the_last_kept(keep_last: int) -> Q:
    """Runs older than the ``keep_last`` newest of their schedule (an index lookup per run); all runs when
    ``keep_last`` is 0."""
    if keep_last < 1:
        return Q()
    newest_kept = (
        Execution.objects.filter(schedule_id=OuterRef("schedule_id"))
        .order_by("-fire_time")
        .values("fire_time")[keep_last - 1 : keep_last]
    )
    return Q(schedule_id__isnull=True) | Q(fire_time__lt=Subquery(newest_kept))
