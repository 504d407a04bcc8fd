"""The Celery message of each run, built fast enough for a herd of thousands.

``app.send_task`` costs several hundred microseconds a call: it resolves routes, task options and a dozen
settings (through Django's settings when Celery reads them from there), copies and re-declares the queue, and
builds the message, for every run. In a herd almost every run has the same *shape* (task, routing, priority,
whether it expires), so :class:`MessageFactory` lets Celery build the message of the first run of each shape,
with a producer that records what Celery would publish instead of publishing it, and derives the message of
every later run of that shape by replacing only what differs from run to run: the task id, the arguments and
their repr, the expiry and the headers. The result is the message ``send_task`` would have built (a unit test
compares them field by field for every option beat_store sets). It is published by kombu's ``Producer.publish``,
or, on Redis, pushed in kombu's own envelope on one pipeline per chunk (:mod:`beat_store.sending.redis_pipeline`).

Celery features that act per message fall back to ``send_task`` for every run, so they keep working:
``before_task_publish``/``after_task_publish`` receivers (tracing, for instance), ``task_send_sent_event``,
and shapes whose template carries a per-run value beat_store does not set (a task-level ``expires`` or
``countdown``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, signals
from celery.utils.saferepr import saferepr
from kombu import Producer

from beat_store import headers as beat_headers
from beat_store.limits import reserved_header
from beat_store.models import Schedule
from beat_store.runs import SendableRun
from beat_store.sending.redis_pipeline import Envelope, RedisPipelinePublisher
from beat_store.sending.redis_pipeline import supports as redis_pipeline_supports

logger = logging.getLogger(__name__)

#: Shape of a run's message: everything but the task id, arguments, expiry time and headers.
ShapeKey = tuple[str, str, str, str, "int | None", bool]

#: Tasks already logged as sent with send_task run by run (logged once per process, not once per batch).
_REPORTED_SLOW_TASKS: set[str] = set()

#: Headers of Celery's protocol 2 that carry the task id, and so are replaced per run.
_ID_HEADERS = ("id", "root_id")


def message_options(schedule: Schedule, run: SendableRun, *, now: datetime) -> dict[str, Any]:
    """Celery options of a run: routing from the schedule, expiry from its deadline, our headers."""
    options: dict[str, Any] = {"headers": run_headers(schedule, run)}
    options.update(_routing_options(schedule))
    expires_at = expiry(schedule, run, now=now)
    if expires_at is not None:
        options["expires"] = expires_at
    return options


class UnbuildableMessage(ValueError):
    """A run whose schedule row holds values no message can carry (written around validation): it is failed
    alone, and the rest of its batch goes out."""


def run_headers(schedule: Schedule, run: SendableRun) -> dict[str, Any]:
    """The schedule's own headers, then beat_store's. Names Celery sets itself (``id``, ``task``, ``eta``...)
    are dropped: validation refuses them, and a row written around it must not run another task, or report
    into another run's record."""
    own = schedule.headers if isinstance(schedule.headers, dict) else {}
    stamped = {name: value for name, value in own.items() if not reserved_header(str(name))}
    stamped.update(beat_headers.build(schedule_name=run.schedule_name, execution_id=run.pk, fire_time=run.fire_time))
    return stamped


def expiry(schedule: Schedule, run: SendableRun, *, now: datetime) -> datetime | None:
    """The earlier of the schedule's ``expires`` (from sending) and the run's start deadline (spec rule 4)."""
    candidates = [run.deadline_at] if run.deadline_at is not None else []
    if schedule.expires is not None:
        try:
            candidates.append(now + timedelta(seconds=schedule.expires))
        except (OverflowError, ValueError, TypeError):
            reason = f"expires={schedule.expires!r} is not a number of seconds a message can carry"
            raise UnbuildableMessage(reason) from None
    return min(candidates) if candidates else None


def _routing_options(schedule: Schedule) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("queue", "exchange", "routing_key"):
        value = getattr(schedule, name)
        if value:
            options[name] = value
    if schedule.priority is not None:
        options["priority"] = schedule.priority
    return options


class _RecordingProducer(Producer):
    """Keeps what Celery hands to ``publish`` instead of sending it."""

    recorded: tuple[Any, dict[str, Any]] | None = None

    def publish(self, body: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.recorded = (body, kwargs)


@dataclass(frozen=True)
class _Call:
    """What differs between two runs of one shape."""

    args: list[Any]
    kwargs: dict[str, Any]
    expires_at: datetime | None


@dataclass(frozen=True)
class _Template:
    """What Celery publishes for one run of a shape, without the run's own headers."""

    embed: Any  # the third element of the protocol 2 body: callbacks, errbacks, chain, chord
    publish_kwargs: dict[str, Any]  # exchange, routing_key, serializer, delivery_mode, headers, properties...


class MessageFactory:
    """Publishes runs with Celery's message, calling ``send_task`` once per shape instead of once per run.

    One factory serves one batch of sends on one producer: templates are not kept across batches, so a change
    of Celery configuration or routes is picked up by the next batch.
    """

    def __init__(self, app: Celery, producer: Any) -> None:
        self.app = app
        self.producer = producer
        self._templates: dict[ShapeKey, _Template | None] = {}
        self._envelopes: dict[ShapeKey, Envelope | None] = {}
        self._fast = not (
            app.conf.task_send_sent_event
            or signals.before_task_publish.receivers
            or signals.after_task_publish.receivers
        )
        # On Redis, messages of a known shape skip Producer.publish and go out on one pipeline (redis_pipeline).
        self._redis = RedisPipelinePublisher(producer) if self._fast and redis_pipeline_supports(producer) else None
        amqp = app.amqp
        self._argsrepr_maxsize = amqp.argsrepr_maxsize
        self._kwargsrepr_maxsize = amqp.kwargsrepr_maxsize
        self._repr_maxlevels = app.conf.task_repr_maxlevels

    def publish(self, run: SendableRun, *, now: datetime) -> None:
        """Publish one run with the schedule's arguments, routing and our headers."""
        schedule = run.schedule
        assert schedule is not None, "runs of deleted schedules are closed before sending"
        call = _call_of(schedule, run, now=now)
        key = self._shape_key(run, schedule, call)
        template = self._template(key, run, schedule, call) if self._fast else None
        if template is None:
            self.app.send_task(
                run.task,
                args=call.args,
                kwargs=call.kwargs,
                task_id=run.task_id,
                producer=self.producer,
                **message_options(schedule, run, now=now),
            )
            return
        body, publish_kwargs = self._patch(template, task_id=run.task_id, call=call, now=now)
        publish_kwargs["headers"].update(run_headers(schedule, run))
        if self._redis is None:
            self.producer.publish(body, **publish_kwargs)
        elif key not in self._envelopes:
            self._envelopes[key] = self._redis.learn(body, publish_kwargs)
        elif (envelope := self._envelopes[key]) is not None:
            self._redis.push(envelope, body, publish_kwargs)
        else:
            self.producer.publish(body, **publish_kwargs)

    def flush(self) -> None:
        """Send what :meth:`publish` buffered for Redis' pipeline (one round trip); kombu's own batch, if any,
        is flushed by its context manager."""
        if self._redis is not None:
            self._redis.flush()

    @staticmethod
    def _shape_key(run: SendableRun, schedule: Schedule, call: _Call) -> ShapeKey:
        return (
            run.task,
            schedule.queue,
            schedule.exchange,
            schedule.routing_key,
            schedule.priority,
            call.expires_at is not None,
        )

    def _template(self, key: ShapeKey, run: SendableRun, schedule: Schedule, call: _Call) -> _Template | None:
        if key not in self._templates:
            self._templates[key] = self._record_template(run, schedule, call)
        template = self._templates[key]
        if template is not None and template.publish_kwargs.get("declare") is not None:
            # Only the first run of a shape declares its queue: kombu re-binds and re-checks it on every publish.
            self._templates[key] = _Template(template.embed, {**template.publish_kwargs, "declare": None})
        return template

    def _record_template(self, run: SendableRun, schedule: Schedule, call: _Call) -> _Template | None:
        """Let Celery build this run's message, without our headers (added last, as Celery adds them)."""
        recorder = _RecordingProducer(self.producer.channel, auto_declare=False)
        options = _routing_options(schedule)
        if call.expires_at is not None:
            options["expires"] = call.expires_at
        self.app.send_task(
            run.task, args=call.args, kwargs=call.kwargs, task_id=run.task_id, producer=recorder, **options
        )
        assert recorder.recorded is not None, "send_task publishes through the producer it is given"
        body, publish_kwargs = recorder.recorded
        if not _is_patchable(body, publish_kwargs, task_id=run.task_id, expires_given=call.expires_at is not None):
            if run.task in _REPORTED_SLOW_TASKS:
                return None
            _REPORTED_SLOW_TASKS.add(run.task)
            logger.info(
                "beat_store: runs of task %r are sent one by one with send_task (their message has per-run values "
                "beat_store does not set, such as a task-level countdown or expires)",
                run.task,
                extra={"action": "slow_send_path"},
            )
            return None
        return _Template(embed=body[2], publish_kwargs=publish_kwargs)

    def _patch(self, template: _Template, *, task_id: str, call: _Call, now: datetime) -> tuple[Any, dict[str, Any]]:
        """The template with this run's task id, arguments and expiry, as ``send_task`` would set them."""
        message_headers = dict(template.publish_kwargs["headers"])
        message_headers["id"] = message_headers["root_id"] = task_id
        message_headers["argsrepr"] = saferepr(call.args, self._argsrepr_maxsize, maxlevels=self._repr_maxlevels)
        message_headers["kwargsrepr"] = saferepr(call.kwargs, self._kwargsrepr_maxsize, maxlevels=self._repr_maxlevels)
        publish_kwargs = {**template.publish_kwargs, "headers": message_headers, "correlation_id": task_id}
        if call.expires_at is not None:
            message_headers["expires"] = call.expires_at.isoformat()
            # send_task: seconds from now, and 0 (expire on arrival) rather than a negative TTL.
            publish_kwargs["expiration"] = max(0.0, (call.expires_at - now).total_seconds())
        return (call.args, call.kwargs, template.embed), publish_kwargs


def _call_of(schedule: Schedule, run: SendableRun, *, now: datetime) -> _Call:
    """The run's arguments and expiry; ``UnbuildableMessage`` when the row holds what validation refuses."""
    kwargs = run.kwargs_override if run.kwargs_override is not None else schedule.kwargs
    if not isinstance(schedule.args, list):
        raise UnbuildableMessage(f"args must be a JSON list, not {type(schedule.args).__name__}")
    if not isinstance(kwargs, dict) or not all(isinstance(name, str) for name in kwargs):
        raise UnbuildableMessage(f"kwargs must be a JSON object, not {type(kwargs).__name__}")
    return _Call(args=list(schedule.args), kwargs=dict(kwargs), expires_at=expiry(schedule, run, now=now))


def _is_patchable(body: Any, publish_kwargs: dict[str, Any], *, task_id: str, expires_given: bool) -> bool:
    """Does the recorded message carry per-run values only where :meth:`MessageFactory._patch` replaces them?"""
    message_headers = publish_kwargs.get("headers")
    if not isinstance(message_headers, dict) or not isinstance(body, tuple) or len(body) != 3:
        return False
    if any(message_headers.get(name) != task_id for name in _ID_HEADERS):
        return False  # sent from inside a task (a parent's root id), or a protocol we do not know
    if publish_kwargs.get("correlation_id") != task_id or message_headers.get("eta") is not None:
        return False
    has_expiry = message_headers.get("expires") is not None or "expiration" in publish_kwargs
    return has_expiry == expires_given
