"""Send planned runs to Celery: one message per run, stamped with beat_store's headers and deterministic id."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any

from celery import Celery

from beat_store import executions, headers
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
        executions.mark_missed_at_send(late_ids, at=now)
    to_send = [run for run in runs if run.pk not in late_ids]
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for start in range(0, len(to_send), PUBLISH_CHUNK):
                chunk = to_send[start : start + PUBLISH_CHUNK]
                with _publish_batch(producer, len(chunk)):
                    for run in chunk:
                        send_run(run, app=app, producer=producer, now=now)
                executions.mark_sent([run.pk for run in chunk], at=now)
                sent += len(chunk)
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
    schedule: Schedule | None = run.schedule
    options = message_options(schedule, run, now=now)
    app.send_task(
        run.task,
        args=list(schedule.args) if schedule else [],
        kwargs=dict(run.kwargs_override if run.kwargs_override is not None else (schedule.kwargs if schedule else {})),
        task_id=run.task_id,
        producer=producer,
        **options,
    )
    logger.info(
        "Sent run of %r for %s (task id %s)",
        run.schedule_name,
        run.fire_time.isoformat(),
        run.task_id,
        extra={"schedule_id": run.schedule_id, "action": "sent"},
    )


def message_options(schedule: Schedule | None, run: Execution, *, now: datetime) -> dict[str, Any]:
    """Celery options of a run: routing from the schedule, expiry from its deadline, our headers."""
    options: dict[str, Any] = {}
    stamped = dict(schedule.headers) if schedule and isinstance(schedule.headers, dict) else {}
    stamped.update(headers.build(schedule_name=run.schedule_name, execution_id=run.pk, fire_time=run.fire_time))
    options["headers"] = stamped
    if schedule is not None:
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


def _expiry(schedule: Schedule | None, run: Execution, *, now: datetime) -> datetime | None:
    """The earlier of the schedule's ``expires`` (from sending) and the run's start deadline (SPEC rule 4)."""
    candidates = [run.deadline_at] if run.deadline_at is not None else []
    if schedule is not None and schedule.expires is not None:
        candidates.append(now + timedelta(seconds=schedule.expires))
    return min(candidates) if candidates else None
