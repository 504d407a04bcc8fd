"""Celery worker signals -> execution records. Each receiver translates signal kwargs into ONE
``executions`` call, and only for messages beat_store sent (recognised by their header), so other tasks
cost nothing."""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from beat_store import executions, headers

logger = logging.getLogger(__name__)


def _own_task_id(task: Any) -> str | None:
    """The task id when ``task``'s current request came from beat_store, else ``None``."""
    request = getattr(task, "request", None)
    if request is None or not headers.is_beat_store_request(request):
        return None
    return str(request.id)


def on_task_prerun(sender: Any = None, task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    if _own_task_id(task) and task_id:
        executions.mark_started(task_id, worker=str(task.request.hostname or ""))


def on_task_success(sender: Any = None, result: Any = None, **kwargs: Any) -> None:
    task_id = _own_task_id(sender)
    if task_id:
        executions.mark_succeeded(task_id, result=result)


def on_task_failure(
    sender: Any = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    einfo: Any = None,
    **kwargs: Any,
) -> None:
    if _own_task_id(sender) and task_id:
        executions.mark_failed(task_id, exception=exception, traceback=str(einfo.traceback) if einfo else "")


def on_task_retry(
    sender: Any = None, request: Any = None, reason: Any = None, einfo: Any = None, **kwargs: Any
) -> None:
    if request is not None and headers.is_beat_store_request(request):
        executions.mark_retrying(str(request.id), reason=reason, traceback=str(einfo.traceback) if einfo else "")


def on_task_revoked(sender: Any = None, request: Any = None, expired: bool = False, **kwargs: Any) -> None:
    if request is not None and headers.is_beat_store_request(request):
        executions.mark_revoked(str(request.id), expired=bool(expired))


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
