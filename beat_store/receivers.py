"""Celery worker signals -> execution records. Each receiver translates signal kwargs into ONE
``executions`` call, and only for messages beat_store sent (recognised by their header), so other tasks
cost nothing.

Recording never hurts the task (#14, #12): the reports go through ``beat_store.report_writer``, which writes them
in order and in batches on a thread of its own, keeps them while the database is down and retries, and does not
hold the task up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import signals
from django.utils import timezone

from beat_store import executions, headers, report_batches, report_writer

#: How long a stopping worker waits for reports not yet written (the database may be down).
SHUTDOWN_FLUSH_SECONDS = 10.0


def _own_task_id(task: Any) -> str | None:
    """The task id when ``task``'s current request came from beat_store, else ``None``."""
    request = getattr(task, "request", None)
    if request is None or not headers.is_beat_store_request(request):
        return None
    return str(request.id)


#: The reports the writer may write several of in one statement, and how (#12).
_MANY: dict[Callable[..., int], report_batches.Many] = {
    executions.mark_started: executions.mark_many_started,
    executions.mark_succeeded: executions.mark_many_succeeded,
}


def _report(record: Callable[..., int], task_id: str, *, request: Any = None, **kwargs: Any) -> None:
    """Write one report (an ``executions.mark_*`` call) through this process's writer (``report_writer``); inline
    for a task run eagerly (``apply()``, ``task_always_eager``: tests, mostly), in the caller's transaction."""
    eager = bool(getattr(request, "is_eager", False))
    report_writer.writer.submit(record, inline=eager, many=_MANY.get(record), task_id=task_id, **kwargs)


def flush_reports(**kwargs: Any) -> None:
    """At worker (or pool process) shutdown: give the waiting reports a last chance to be written."""
    report_writer.writer.flush(timeout=SHUTDOWN_FLUSH_SECONDS)


def _retries_of(task: Any) -> int | None:
    """How many times the task was retried before this attempt, as Celery counts it."""
    retries = getattr(getattr(task, "request", None), "retries", None)
    return retries if isinstance(retries, int) else None


def on_task_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if _own_task_id(task) and task_id:
        worker = str(task.request.hostname or "")
        _report(executions.mark_started, task_id, request=task.request, worker=worker, at=timezone.now())


def on_task_success(sender: Any = None, result: Any = None, **kwargs: Any) -> None:
    task_id = _own_task_id(sender)
    if task_id:
        retries = _retries_of(sender)
        at = timezone.now()
        _report(executions.mark_succeeded, task_id, request=sender.request, result=result, at=at, retries=retries)


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
        _report(
            executions.mark_failed,
            task_id,
            request=sender.request,
            exception=exception,
            traceback=traceback,
            at=at,
            retries=retries,
        )


def on_task_retry(
    sender: Any = None, request: Any = None, reason: Any = None, einfo: Any = None, **kwargs: Any
) -> None:
    if request is not None and headers.is_beat_store_request(request):
        traceback = str(einfo.traceback) if einfo else ""
        _report(executions.mark_retrying, str(request.id), request=request, reason=reason, traceback=traceback)


def on_task_revoked(sender: Any = None, request: Any = None, expired: bool = False, **kwargs: Any) -> None:
    if request is not None and headers.is_beat_store_request(request):
        _report(executions.mark_revoked, str(request.id), request=request, expired=bool(expired), at=timezone.now())


_connected = False


def connect() -> None:
    """Connect the receivers (idempotent: Celery's dispatch_uid keeps one connection each)."""
    global _connected
    signals.task_prerun.connect(on_task_prerun, weak=False, dispatch_uid="beat_store.on_task_prerun")
    signals.task_success.connect(on_task_success, weak=False, dispatch_uid="beat_store.on_task_success")
    signals.task_failure.connect(on_task_failure, weak=False, dispatch_uid="beat_store.on_task_failure")
    signals.task_retry.connect(on_task_retry, weak=False, dispatch_uid="beat_store.on_task_retry")
    signals.task_revoked.connect(on_task_revoked, weak=False, dispatch_uid="beat_store.on_task_revoked")
    signals.worker_process_shutdown.connect(flush_reports, weak=False, dispatch_uid="beat_store.flush_reports")
    signals.worker_shutdown.connect(flush_reports, weak=False, dispatch_uid="beat_store.flush_reports_main")
    _connected = True


def is_connected() -> bool:
    """For the system check: have the worker-side receivers been wired in this process?"""
    return _connected
