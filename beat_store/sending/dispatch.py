"""Send planned runs to Celery: one message per run, stamped with beat_store's headers and deterministic id."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from django.db import DatabaseError, connection
from django.utils import timezone

from beat_store import executions, staged_runs
from beat_store.conf import settings
from beat_store.enums import ExecutionStatus as S
from beat_store.runs import SendableRun
from beat_store.sending.broker_inspection import queued_task_ids
from beat_store.sending.messages import RUN_ERRORS, MessageFactory
from beat_store.sending.staged_dispatch import take_back_in_doubt

logger = logging.getLogger(__name__)

#: How long an unsendable run waits before a beat tries the broker again.
BROKER_RETRY_DELAY = timedelta(seconds=5)


def send_claimed_runs(runs: Sequence[SendableRun], *, app: Celery, now: datetime) -> int:
    """Send ``runs`` leased by ``executions.claim_pending_runs`` and mark them; return how many the broker took.

    Runs past their start deadline are marked ``missed``, runs of deleted schedules ``revoked``, and runs in doubt
    (a beat died while publishing them) whose message the broker still holds ``sent``. The rest go out in
    chunks of ``BEAT_STORE_BATCH_SIZE`` over one producer; each chunk is one pipelined round trip where the
    transport batches (Redis) and is marked ``sent`` right after, so a beat killed mid-herd leaves at most one
    chunk in doubt. When the broker fails, the unsent runs are released for a retry.
    """
    to_send = _skip_already_published(_close_unsendable(_take_back_staged(runs, app=app), now=now), app=app)
    return _publish(to_send, app=app, now=now, mark_publishing=True)


def send_planned_runs(runs: Sequence[SendableRun], *, app: Celery, now: datetime) -> int:
    """Send runs this beat has just recorded, leased to itself and marked as being published
    (``store.TickSummary.ready``): nobody else can have published them, so the broker is not searched for them."""
    return _publish(_close_unsendable(runs, now=now), app=app, now=now, mark_publishing=False)


#: Why a run decided earlier is not sent after all, in the order they are checked: (status, reason, test).
_UNSENDABLE: tuple[tuple[S, str, Callable[[SendableRun, datetime], bool]], ...] = (
    (
        S.MISSED,
        staged_runs.MISSED_REASON,
        lambda run, now: run.deadline_at is not None and run.deadline_at < now,
    ),
    # A run whose schedule was deleted after it was decided has nothing left to send (its arguments and
    # routing went with the schedule).
    (S.REVOKED, staged_runs.DELETED_REASON, lambda run, now: run.schedule_id is None),
    # A schedule paused after its run was decided (planned ahead, or waiting for its jitter) sends nothing
    # more; a manual run ("run now") goes out even when its schedule is paused.
    (
        S.SKIPPED,
        staged_runs.PAUSED_REASON,
        lambda run, now: not run.manual and run.schedule is not None and run.schedule.paused,
    ),
)


def _close_unsendable(runs: Sequence[SendableRun], *, now: datetime) -> list[SendableRun]:
    """Close runs past their start deadline (``missed``), whose schedule is gone (``revoked``) or paused
    (``skipped``); keep the rest. A run is closed for the first reason that applies."""
    closed_ids: set[int] = set()
    for status, reason, applies in _UNSENDABLE:
        ids = {run.pk for run in runs if applies(run, now)} - closed_ids
        if ids:
            executions.close_unsent(ids, status=status, reason=reason, at=now)
            closed_ids |= ids
    return [run for run in runs if run.pk not in closed_ids]


def _publish(to_send: list[SendableRun], *, app: Celery, now: datetime, mark_publishing: bool) -> int:
    sent = done = 0
    try:
        with app.producer_or_acquire() as producer:
            messages = MessageFactory(app, producer)
            chunk_size = settings.BATCH_SIZE
            for start in range(0, len(to_send), chunk_size):
                chunk = to_send[start : start + chunk_size]
                # Expiry times count from the moment of sending, which in a long herd is well after `now`.
                sending_at = timezone.now()
                if mark_publishing:
                    executions.mark_publishing([run.pk for run in chunk], at=sending_at)
                with _publish_batch(producer, len(chunk)):
                    refused = _publish_each(messages, chunk, now=sending_at)
                    messages.flush()
                refused_ids = {run.pk for run, _ in refused}
                published = [run for run in chunk if run.pk not in refused_ids]
                _log_sent(published)
                # Stamped with the moment the chunk began to go out: a worker may start a run (and report
                # it) before this update lands, never before its message was pushed.
                _mark_sent_durably([run.pk for run in published], at=sending_at)
                _fail_unbuildable(refused, at=sending_at)
                sent += len(published)
                done += len(chunk)
    except DatabaseError:
        raise  # not the broker's fault: beat backs off and the leases hand the runs to whoever is alive
    except Exception as error:  # kombu/redis/amqp errors vary by transport; all mean "try again later"
        unsent = [run.pk for run in to_send[done:]]
        logger.error(
            "Broker refused %d run(s), they stay pending and will be retried: %s",
            len(unsent),
            error,
            extra={"action": "send_failed"},
        )
        executions.release_runs(unsent, retry_at=now + BROKER_RETRY_DELAY)
    return sent


def _publish_each(
    messages: MessageFactory, chunk: Sequence[SendableRun], *, now: datetime
) -> list[tuple[SendableRun, str]]:
    """Publish (or buffer) each run of the chunk; return the runs whose message could not be built, with why."""
    refused: list[tuple[SendableRun, str]] = []
    for run in chunk:
        try:
            messages.publish(run, now=now)
        except RUN_ERRORS as error:
            refused.append((run, f"{type(error).__name__}: {error}"))
    return refused


def _fail_unbuildable(refused: list[tuple[SendableRun, str]], *, at: datetime) -> None:
    """Runs whose schedule row holds what no message can carry fail once, with the reason, never retried; their
    schedule is paused (see ``executions.fail_unsent``)."""
    for run, reason in refused:
        logger.error(
            "Run of %r at %s could not be turned into a message: recorded failed and the schedule paused (the rest "
            "of its batch went out): %s",
            run.schedule_name,
            run.fire_time.isoformat(),
            reason,
            extra={"schedule_id": run.schedule_id, "action": "unbuildable_message"},
        )
        executions.fail_unsent(run, reason=f"beat could not build its message: {reason}", at=at)


def _take_back_staged(runs: Sequence[SendableRun], *, app: Celery) -> list[SendableRun]:
    """Runs staged ahead that no release took in time: their staged message is withdrawn before they are sent the
    ordinary way, and those a release had already pushed (a beat died before recording it) are recorded sent."""
    to_send, released = take_back_in_doubt(list(runs), app=app)
    if released:
        logger.info(
            "%d staged run(s) released by a beat that died are recorded sent, not sent again",
            len(released),
            extra={"action": "recovered_staged"},
        )
        _mark_sent_durably(sorted(released), at=timezone.now())
    return to_send


def _skip_already_published(runs: list[SendableRun], *, app: Celery) -> list[SendableRun]:
    """Record as sent, instead of publishing again, runs in doubt whose message the broker still holds.

    A run is in doubt when a beat started publishing it but never recorded the outcome (it died, or lost its
    database). Where the broker cannot be read (not Redis), runs in doubt are published again: at least once,
    with the same task id, so tasks can drop the repeat.
    """
    in_doubt = [run for run in runs if run.publish_attempted_at is not None]
    if not in_doubt:
        return runs
    queued = queued_task_ids(app, in_doubt)
    if queued is None:
        logger.warning(
            "%d run(s) may have been published by a beat that died; this broker cannot be inspected, so they "
            "are published again (same task ids)",
            len(in_doubt),
            extra={"action": "republish_in_doubt"},
        )
        return runs
    already = [run for run in in_doubt if run.task_id in queued]
    if already:
        logger.info(
            "%d run(s) published by a beat that died are already in the broker: recorded sent, not sent again",
            len(already),
            extra={"action": "recovered_in_doubt"},
        )
        _mark_sent_durably([run.pk for run in already], at=timezone.now())
    return [run for run in runs if run.task_id not in queued]


def _mark_sent_durably(execution_ids: list[int], *, at: datetime) -> None:
    """Record a chunk the broker holds as ``sent``, riding out a dropped database connection.

    Failing here would leave published runs ``pending``: once their lease ran out they would be published
    again. So the update is retried on a fresh connection for up to half the lease before giving up.
    """
    give_up_at = time.monotonic() + settings.LEASE_SECONDS / 2
    delay = 0.1
    while True:
        try:
            executions.mark_sent(execution_ids, at=at)
            return
        except DatabaseError as error:
            if time.monotonic() + delay > give_up_at:
                raise
            logger.warning(
                "Could not record %d sent run(s), retrying in %.1f s: %s",
                len(execution_ids),
                delay,
                error,
                extra={"action": "mark_sent_retry"},
            )
            connection.close()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _log_sent(chunk: Sequence[SendableRun]) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return  # a herd is thousands of runs: skip even formatting the arguments
    for run in chunk:
        logger.info(
            "Sent run of %r for %s (task id %s)",
            run.schedule_name,
            run.fire_time.isoformat(),
            run.task_id,
            extra={"schedule_id": run.schedule_id, "action": "sent"},
        )


def _publish_batch(producer: Any, size: int) -> AbstractContextManager[Any]:
    """kombu >= 5.7 pipelines publishes inside ``Producer.batch()``; older kombu publishes one by one."""
    batch = getattr(producer, "batch", None)
    if batch is None:
        return nullcontext()
    # Room for every command of the chunk (a push, and expiry commands on some queues), so that it is flushed
    # once, at the end, and marking it sent matches what the broker holds.
    return batch(max_size=size * 4 + 16)
