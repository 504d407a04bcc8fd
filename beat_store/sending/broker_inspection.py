"""Which runs' messages still wait in the broker: how a beat tells, after another beat died between publishing
a chunk and recording it, whether those runs must be published again or merely recorded ``sent``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from celery import Celery

from beat_store.runs import SendableRun

logger = logging.getLogger(__name__)


def queued_task_ids(app: Celery, runs: Sequence[SendableRun]) -> set[str] | None:
    """Task ids of ``runs`` whose message is in one of the broker's queues; ``None`` when it cannot tell.

    Only the Redis transport can be read without consuming. The queues read are the runs' own, the default
    queue and every queue the Celery app declares. Reading is O(queue length), which is why it is only done
    for runs in doubt (a crash recovery path), never for every send.
    """
    wanted = {run.task_id for run in runs}
    if not wanted:
        return set()
    with app.connection_for_write() as connection:
        if connection.transport.driver_type != "redis":
            return None
        channel: Any = connection.default_channel  # kombu's Redis Channel
        found: set[str] = set()
        with channel.conn_or_acquire() as client:
            for key in _queue_keys(channel, _queue_names(app, runs)):
                for page in _pages(client, key):
                    found.update(task_id for task_id in _task_ids(page) if task_id in wanted)
        return found


#: Messages read per round trip: a queue holding a whole herd (100,000 messages) is read a page at a time, so
#: the beat's memory stays flat.
PAGE_SIZE = 1000


def _pages(client: Any, key: str) -> Iterable[list[bytes]]:
    start = 0
    while True:
        page = client.lrange(key, start, start + PAGE_SIZE - 1)
        if not page:
            return
        yield page
        start += len(page)


def _queue_names(app: Celery, runs: Iterable[SendableRun]) -> set[str]:
    names = {str(app.conf.task_default_queue or "celery")}
    names.update(str(name) for name in (app.amqp.queues or {}))
    names.update(
        run.schedule.option("queue") for run in runs if run.schedule is not None and run.schedule.option("queue")
    )
    return names


def _queue_keys(channel: Any, queue_names: Iterable[str]) -> list[str]:
    """The Redis lists kombu keeps a queue in: one per priority step."""
    steps = getattr(channel, "priority_steps", [0])
    keys: list[str] = []
    for name in sorted(queue_names):
        keys.extend(dict.fromkeys(channel._q_for_pri(name, step) for step in steps))
    return keys


def _task_ids(raw_messages: Iterable[bytes | str]) -> Iterable[str]:
    for raw in raw_messages:
        try:
            task_id = json.loads(raw).get("headers", {}).get("id")
        except (ValueError, AttributeError):
            continue
        if isinstance(task_id, str):
            yield task_id
