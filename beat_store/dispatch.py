"""Send planned runs to Celery: one message per run, stamped with beat_store's headers and deterministic id."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from celery import Celery
from django.db import DatabaseError, connection
from django.utils import timezone

from beat_store import executions, headers
from beat_store.broker_inspection import queued_task_ids
from beat_store.conf import settings
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution, Schedule
from beat_store.store import release_runs

logger = logging.getLogger(__name__)

#: How long an unsendable run waits before a beat tries the broker again.
BROKER_RETRY_DELAY = timedelta(seconds=5)
#: Runs published per pipelined round trip and marked sent together.
PUBLISH_CHUNK = 200


def send_claimed_runs(runs: Sequence[Execution], *, app: Celery, now: datetime) -> int:
    """Send ``runs`` (leased to this process) and mark them; return how many the broker took.

    Runs past their start deadline are marked ``missed``. The rest go out in chunks over one producer; each chunk
    is one pipelined round trip where the transport batches (kombu's ``Producer.batch``: Redis) and is marked
    ``sent`` right after, so a beat killed mid-herd leaves at most one chunk whose fate is unknown (re-sent, with
    the same task id, once its lease runs out). When the broker fails, the unsent runs are released for a retry.
    """
    late_ids = {run.pk for run in runs if run.deadline_at is not None and run.deadline_at < now}
    if late_ids:
        executions.close_unsent(
            late_ids, status=S.MISSED, reason="start deadline passed before beat could send it", at=now
        )
    # A run whose schedule was deleted after it was decided has nothing left to send (its arguments and
    # routing went with the schedule).
    orphan_ids = {run.pk for run in runs if run.schedule_id is None} - late_ids
    if orphan_ids:
        executions.close_unsent(orphan_ids, status=S.REVOKED, reason="schedule deleted before the run was sent", at=now)
    closed_ids = late_ids | orphan_ids
    to_send = [run for run in runs if run.pk not in closed_ids]
    to_send = _skip_already_published(to_send, app=app)
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for start in range(0, len(to_send), PUBLISH_CHUNK):
                chunk = to_send[start : start + PUBLISH_CHUNK]
                executions.mark_publishing([run.pk for run in chunk], at=timezone.now())
                with _publish_batch(producer, len(chunk)):
                    for run in chunk:
                        send_run(run, app=app, producer=producer, now=now)
                _log_sent(chunk)
                _mark_sent_durably([run.pk for run in chunk])
                sent += len(chunk)
    except DatabaseError:
        raise  # not the broker's fault: beat backs off and the leases hand the runs to whoever is alive
    except Exception as error:  # kombu/redis/amqp errors vary by transport; all mean "try again later"
        unsent = [run.pk for run in to_send[sent:]]
        logger.error(
            "Broker refused %d run(s), they stay pending and will be retried: %s",
            len(unsent),
            error,
            extra={"action": "send_failed"},
        )
        release_runs(unsent, retry_at=now + BROKER_RETRY_DELAY)
    return sent


def _skip_already_published(runs: list[Execution], *, app: Celery) -> list[Execution]:
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
        _mark_sent_durably([run.pk for run in already])
    return [run for run in runs if run.task_id not in queued]


def _mark_sent_durably(execution_ids: list[int]) -> None:
    """Record a chunk the broker holds as ``sent``, riding out a dropped database connection.

    Failing here would leave published runs ``pending``: once their lease ran out they would be published
    again. So the update is retried on a fresh connection for up to half the lease before giving up.
    """
    give_up_at = time.monotonic() + settings.LEASE_SECONDS / 2
    delay = 0.1
    while True:
        try:
            executions.mark_sent(execution_ids, at=timezone.now())
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


def _log_sent(chunk: Sequence[Execution]) -> None:
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


def send_run(run: Execution, *, app: Celery, producer: Any, now: datetime) -> None:
    """Publish one run with the schedule's arguments and message options."""
    schedule = run.schedule
    assert schedule is not None, "runs of deleted schedules are closed before sending"
    kwargs = run.kwargs_override if run.kwargs_override is not None else schedule.kwargs
    app.send_task(
        run.task,
        args=list(schedule.args),
        kwargs=dict(kwargs),
        task_id=run.task_id,
        producer=producer,
        **message_options(schedule, run, now=now),
    )


def message_options(schedule: Schedule, run: Execution, *, now: datetime) -> dict[str, Any]:
    """Celery options of a run: routing from the schedule, expiry from its deadline, our headers."""
    stamped = dict(schedule.headers) if isinstance(schedule.headers, dict) else {}
    stamped.update(headers.build(schedule_name=run.schedule_name, execution_id=run.pk, fire_time=run.fire_time))
    options: dict[str, Any] = {"headers": stamped}
    for name in ("queue", "exchange", "routing_key"):
        value = getattr(schedule, name)
        if value:
            options[name] = value
    if schedule.priority is not None:
        options["priority"] = schedule.priority
    expires_at = _expiry(schedule, run, now=now)
    if expires_at is not None:
        options["expires"] = expires_at
    return options


def _expiry(schedule: Schedule, run: Execution, *, now: datetime) -> datetime | None:
    """The earlier of the schedule's ``expires`` (from sending) and the run's start deadline (SPEC rule 4)."""
    candidates = [run.deadline_at] if run.deadline_at is not None else []
    if schedule.expires is not None:
        candidates.append(now + timedelta(seconds=schedule.expires))
    return min(candidates) if candidates else None
