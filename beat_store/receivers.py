"""Celery worker signals -> execution records. Each receiver translates signal kwargs into ONE
``executions`` call, and only for messages beat_store sent (recognised by their header), so other tasks
cost nothing.

Recording never hurts the task (#14): when the database is down, a report is kept (up to
``PENDING_REPORTS_MAX``, oldest dropped first) and written before the next one that succeeds, so the record
catches up; the worker log says so once per outage, not with a traceback per task. A run whose reports are
lost for good ends ``lost`` like any run without news."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from celery import signals
from django.db import DatabaseError
from django.utils import timezone

from beat_store import executions, headers
from beat_store.db.connections import drop_connection

logger = logging.getLogger(__name__)


def _own_task_id(task: Any) -> str | None:
    """The task id when ``task``'s current request came from beat_store, else ``None``."""
    request = getattr(task, "request", None)
    if request is None or not headers.is_beat_store_request(request):
        return None
    return str(request.id)


#: Reports the database refused, oldest first, written again before the next report.
PENDING_REPORTS_MAX = 10_000
_pending: deque[tuple[Callable[..., int], tuple[Any, ...], dict[str, Any]]] = deque(maxlen=PENDING_REPORTS_MAX)
_outage_logged = False
_reports_lock = threading.Lock()


def _report(record: Callable[..., int], *args: Any, **kwargs: Any) -> None:
    """Write one report (an ``executions.mark_*`` call), after any the database refused earlier.

    One lock for all of a worker's threads (the threads pool runs several tasks in one process): the waiting
    reports are written in order, by one thread at a time.
    """
    with _reports_lock:
        _pending.append((record, args, kwargs))
        try:
            while _pending:
                queued, queued_args, queued_kwargs = _pending[0]
                queued(*queued_args, **queued_kwargs)
                _pending.popleft()
        except DatabaseError as error:
            drop_connection()
            _log_outage(error)
            return
        _log_recovery()


def _log_outage(error: DatabaseError) -> None:
    global _outage_logged
    if not _outage_logged:
        logger.warning(
            "beat_store: cannot record run states (%s); the tasks run as usual and %d report(s) wait to be "
            "written when the database answers again",
            error,
            len(_pending),
        )
        _outage_logged = True


def _log_recovery() -> None:
    global _outage_logged
    if _outage_logged:
        logger.warning("beat_store: recording run states again; the waiting reports are written")
        _outage_logged = False


def _retries_of(task: Any) -> int | None:
    """How many times the task was retried before this attempt, as Celery counts it."""
    retries = getattr(getattr(task, "request", None), "retries", None)
    return retries if isinstance(retries, int) else None


def on_task_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if _own_task_id(task) and task_id:
        _report(executions.mark_started, task_id, worker=str(task.request.hostname or ""), at=timezone.now())


def on_task_success(sender: Any = None, result: Any = None, **kwargs: Any) -> None:
    task_id = _own_task_id(sender)
    if task_id:
        retries = _retries_of(sender)
        _report(executions.mark_succeeded, task_id, result=result, at=timezone.now(), retries=retries)


def on_task_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    einfo: Any = None,
    **kwargs: Any,
) -> None:
    if _own_task_id(sender) and task_id:
        traceback = str(einfo.traceback) if einfo else ""
        at, retries = timezone.now(), _retries_of(sender)
        _report(executions.mark_failed, task_id, exception=exception, traceback=traceback, at=at, retries=retries)


def on_task_retry(
    sender: Any = None, request: Any = None, reason: Any = None, einfo: Any = None, **kwargs: Any
) -> None:
    if request is not None and headers.is_beat_store_request(request):
        traceback = str(einfo.traceback) if einfo else ""
        _report(executions.mark_retrying, str(request.id), reason=reason, traceback=traceback)


def on_task_revoked(sender: Any = None, request: Any = None, expired: bool = False, **kwargs: Any) -> None:
    if request is not None and headers.is_beat_store_request(request):
        _report(executions.mark_revoked, str(request.id), expired=bool(expired), at=timezone.now())


_connected = False


def connect() -> None:
    """Connect the receivers (idempotent: Celery's dispatch_uid keeps one connection each)."""
    global _connected
    signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="beat_store.on_task_prerun")
    signals.task_success.connect(on_task_success, weak=False, dispatch_uid="beat_store.on_task_success")
    signals.task_failure.connect(on_task_failure, weak=False, dispatch_uid="beat_store.on_task_failure")
    signals.task_retry.connect(on_task_retry, weak=False, dispatch_uid="beat_store.on_task_retry")
    signals.task_revoked.connect(on_task_revoked, weak=False, dispatch_uid="beat_store.on_task_revoked")
    _connected = True


def is_connected() -> bool:
    """For the system check: have the worker-side receivers been wired in this process?"""
    return _connected
