"""Execution state transitions. Each is one conditional UPDATE, so a late or repeated signal never moves a
record backwards (a worker may report ``started`` before beat has stamped ``sent``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Min, Q, Value
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from beat_store.conf import settings
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution

#: States a worker-side report may leave; terminal states are never left.
_BEFORE_START = (S.PENDING, S.SENT, S.RETRYING)
_RUNNING = (S.PENDING, S.SENT, S.STARTED, S.RETRYING, S.LOST)


def mark_sent(execution_ids: Iterable[int], *, at: datetime) -> int:
    """Beat handed these runs to the broker; return how many were still ``pending``.

    A fast worker may report a run started, or even finished, before this stamp lands. Such a run keeps its
    status but still gets its ``sent_at``: it was sent, and no later than the worker began (or ended) it, so the
    stamp is capped there to keep sent <= started <= finished.
    """
    ids = list(execution_ids)
    still_pending = Execution.objects.filter(id__in=ids, status=S.PENDING).update(
        status=S.SENT, sent_at=at, lease_owner="", lease_until=None
    )
    if still_pending < len(ids):
        Execution.objects.filter(id__in=ids, sent_at__isnull=True).exclude(status=S.PENDING).update(
            sent_at=Least(Value(at), Coalesce("started_at", "finished_at", Value(at))),
            lease_owner="",
            lease_until=None,
        )
    return still_pending


def mark_publishing(execution_ids: Iterable[int], *, at: datetime) -> int:
    """These runs are about to go to the broker: from now on, a crash leaves them in doubt."""
    return Execution.objects.filter(id__in=list(execution_ids), status=S.PENDING).update(publish_attempted_at=at)


def mark_started(task_id: str, *, worker: str, at: datetime | None = None) -> int:
    at = at or timezone.now()
    return Execution.objects.filter(task_id=task_id, status__in=_BEFORE_START).update(
        status=S.STARTED, started_at=at, worker=worker[:255]
    )


def mark_succeeded(task_id: str, *, result: object, at: datetime | None = None) -> int:
    return Execution.objects.filter(task_id=task_id, status__in=_RUNNING).update(
        status=S.SUCCEEDED, finished_at=at or timezone.now(), result=_short_repr(result)
    )


def mark_failed(task_id: str, *, exception: BaseException | None, traceback: str, at: datetime | None = None) -> int:
    return Execution.objects.filter(task_id=task_id, status__in=_RUNNING).update(
        status=S.FAILED,
        finished_at=at or timezone.now(),
        exception=_describe_exception(exception),
        traceback=traceback or "",
    )


def mark_retrying(task_id: str, *, reason: object, traceback: str = "") -> int:
    """A failed attempt that will be retried: not the run's end, so no ``finished_at``."""
    return Execution.objects.filter(task_id=task_id, status__in=_RUNNING).update(
        status=S.RETRYING, result=_short_repr(reason), traceback=traceback or ""
    )


def mark_revoked(task_id: str, *, expired: bool, at: datetime | None = None) -> int:
    """A revoked run; one revoked because its message expired never started in time, so it was ``missed``."""
    status = S.MISSED if expired else S.REVOKED
    reason = "start deadline passed before a worker could start it" if expired else "revoked"
    return Execution.objects.filter(task_id=task_id, status__in=_RUNNING).update(
        status=status, finished_at=at or timezone.now(), result=reason
    )


def withdraw_planned_ahead(schedule_id: int, *, now: datetime) -> datetime | None:
    """Delete the runs of a schedule that beat planned ahead of their fire time (``BEAT_STORE_PLAN_AHEAD``) and
    has not begun to send; return the earliest fire time withdrawn (None: there was none).

    Saving a schedule calls it, so an edit or a pause made in the seconds before a fire time is decided on as
    if nothing had been planned yet.

    Not begun to send: nobody marked it as being published, and either no beat holds it, or the beat that
    planned it holds it and its send time is still to come (``store.confirm_held_runs`` marks it under the same
    row lock, so either the save or that beat wins). A run another beat claimed is left alone.
    """
    planned = Execution.objects.filter(
        Q(lease_owner="") | Q(send_at__gt=now),
        schedule_id=schedule_id,
        manual=False,
        status=S.PENDING,
        fire_time__gt=now,
        publish_attempted_at__isnull=True,
    )
    earliest = planned.aggregate(earliest=Min("fire_time"))["earliest"]
    if earliest is not None:
        planned.delete()
    return earliest


def close_unsent(execution_ids: Iterable[int], *, status: S, reason: str, at: datetime) -> int:
    """Beat decided not to send these pending runs after all (start deadline passed, schedule deleted)."""
    return Execution.objects.filter(id__in=list(execution_ids), status=S.PENDING).update(
        status=status, finished_at=at, result=reason, lease_owner="", lease_until=None
    )


def mark_lost(*, now: datetime) -> int:
    """Open runs with no news for ``BEAT_STORE_LOST_AFTER`` seconds free their max-instances slot as ``lost``.

    Only sent/started/retrying runs: a pending run is still beat's to send, and any beat re-sends it.
    """
    cutoff = now - timedelta(seconds=settings.LOST_AFTER)
    return Execution.objects.filter(status__in=(S.SENT, S.STARTED, S.RETRYING), updated_at__lt=cutoff).update(
        status=S.LOST, finished_at=now, result=f"no news from a worker for {settings.LOST_AFTER:g} s"
    )


def _short_repr(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    limit = settings.RESULT_MAX_LENGTH
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_exception(exception: BaseException | None) -> str:
    if exception is None:
        return ""
    return _short_repr(f"{type(exception).__name__}: {exception}")
