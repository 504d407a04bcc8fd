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

``before_task_publish``/``after_task_publish`` receivers (the signals tracing integrations such as
OpenTelemetry's connect) keep the fast path: each derived message is announced to them with its own headers,
which they may change (trace propagation), before it is published, and after it has gone out (for Redis, after
its pipeline's round trip). The first run of a shape is announced by Celery itself, while it builds the template
(its ``after_task_publish`` then comes just before the message is published rather than just after). The
template then keeps only the headers of Celery's protocol: headers that code other than these receivers adds
inside ``send_task`` (a patched ``send_task``) reach the first run of each shape only.

Celery features that act per message otherwise fall back to ``send_task`` for every run, so they keep working:
``task_send_sent_event``, and shapes whose template carries a per-run value beat_store does not set (a
task-level ``expires`` or ``countdown``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Celery, signals
from celery.utils.saferepr import saferepr
from kombu import Producer
from kombu.exceptions import EncodeError

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

#: Keyword arguments of ``Producer.publish`` that Celery passes apart; the others are message properties
#: (correlation id, priority, expiration...), as ``before_task_publish`` receives them.
_PUBLISH_ARGUMENTS = frozenset(
    {
        "exchange",
        "routing_key",
        "serializer",
        "compression",
        "retry",
        "retry_policy",
        "delivery_mode",
        "declare",
        "headers",
        "timeout",
        "confirm_timeout",
    }
)

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


#: Errors that come from one run's values, not from the broker: that run fails alone (the serializer's
#: EncodeError; Type/Value/OverflowError from building the message). Broker errors are none of these.
RUN_ERRORS = (UnbuildableMessage, EncodeError, TypeError, ValueError, OverflowError)


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
    expires = schedule.option("expires")
    if expires is not None:
        try:
            candidates.append(now + timedelta(seconds=expires))
        except (OverflowError, ValueError, TypeError):
            reason = f"expires={expires!r} is not a number of seconds a message can carry"
            raise UnbuildableMessage(reason) from None
    return min(candidates) if candidates else None


def _routing_options(schedule: Schedule) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in ("queue", "exchange", "routing_key"):
        value = schedule.option(name) if name == "queue" else getattr(schedule, name)
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
        self._fast = not app.conf.task_send_sent_event
        # Read once per factory (one batch), as Celery reads them once per send_task.
        self._announce_before = bool(signals.before_task_publish.receivers)
        self._announce_after = bool(signals.after_task_publish.receivers)
        self._protocol_header_names: frozenset[str] | None = None
        #: after_task_publish calls waiting for the Redis pipeline's round trip.
        self._published_unannounced: list[dict[str, Any]] = []
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
        if not self._fast:
            self._send_task(run, schedule, call, now=now)
            return
        if key not in self._templates and self._announcing:
            # Celery announces this run while building the template: publish that very message, not a copy.
            body, publish_kwargs = self._learn_shape(key, run, schedule, call, with_headers=True)
            if self._templates[key] is None:
                self.producer.publish(body, **publish_kwargs)  # exactly what send_task would have published
            else:
                self._publish_derived(key, run.task, body, publish_kwargs, announced=True)
            return
        template = self._template(key, run, schedule, call)
        if template is None:
            self._send_task(run, schedule, call, now=now)
            return
        body, publish_kwargs = self._patch(template, task_id=run.task_id, call=call, now=now)
        publish_kwargs["headers"].update(run_headers(schedule, run))
        self._publish_derived(key, run.task, body, publish_kwargs, announced=False)

    def stage(self, run: SendableRun, *, send_at: datetime) -> tuple[str, str] | None:
        """Build the message of a run decided ahead, as it will be published at ``send_at``, without sending it:
        return its Redis list and kombu envelope (``staging``), or None when this run's message cannot be staged
        (not on Redis, a shape ``send_task`` builds run by run, a property a receiver changed...): nothing was
        published then, and the run is sent at its time the ordinary way.

        The publish signals' receivers are told now, when the message is built (its headers are final now).
        """
        if self._redis is None:
            return None
        schedule = run.schedule
        assert schedule is not None, "runs are staged by the beat that has just planned them"
        call = _call_of(schedule, run, now=send_at)
        key = self._shape_key(run, schedule, call)
        announced = key not in self._templates and self._announcing
        if announced:
            body, publish_kwargs = self._learn_shape(key, run, schedule, call, with_headers=True)
            if self._templates[key] is None:
                return None
        else:
            template = self._template(key, run, schedule, call)
            if template is None:
                return None
            body, publish_kwargs = self._patch(template, task_id=run.task_id, call=call, now=send_at)
            publish_kwargs["headers"].update(run_headers(schedule, run))
            if self._announce_before and not self._announce_before_publish(run.task, body, publish_kwargs):
                return None
        if publish_kwargs.get("compression") or publish_kwargs.get("content_type"):
            return None  # kombu would publish it at once (see RedisPipelinePublisher.learn)
        with self._redis.capturing() as commands:
            if key not in self._envelopes:
                self._envelopes[key] = self._redis.learn(body, publish_kwargs)
            elif (envelope := self._envelopes[key]) is not None:
                self._redis.push(envelope, body, publish_kwargs)
        if len(commands) != 1 or commands[0][0] != "lpush":
            return None  # not staged as one push (nothing at all, or a queue with an expiry to renew)
        if not announced and self._announce_after:
            self._published_unannounced.append(
                {
                    "sender": run.task,
                    "body": body,
                    "headers": publish_kwargs["headers"],
                    "exchange": publish_kwargs.get("exchange"),
                    "routing_key": publish_kwargs.get("routing_key"),
                }
            )
        list_key, payload = commands[0][1]
        return list_key, payload

    @property
    def _announcing(self) -> bool:
        return self._announce_before or self._announce_after

    def _send_task(self, run: SendableRun, schedule: Schedule, call: _Call, *, now: datetime) -> None:
        self.app.send_task(
            run.task,
            args=call.args,
            kwargs=call.kwargs,
            task_id=run.task_id,
            producer=self.producer,
            **message_options(schedule, run, now=now),
        )

    def _publish_derived(
        self, key: ShapeKey, task: str, body: Any, publish_kwargs: dict[str, Any], *, announced: bool
    ) -> None:
        """Publish a message built here: on Redis' pipeline when its shape allows, else through kombu. Unless
        Celery already did (``announced``), the publish signals' receivers are told, as ``send_task`` would."""
        envelope_fits = True
        if not announced and self._announce_before:
            envelope_fits = self._announce_before_publish(task, body, publish_kwargs)
        buffered = False
        if self._redis is not None and key not in self._envelopes:
            self._envelopes[key] = self._redis.learn(body, publish_kwargs)
            buffered = True
        elif self._redis is not None and envelope_fits and (envelope := self._envelopes[key]) is not None:
            self._redis.push(envelope, body, publish_kwargs)
            buffered = True
        else:
            self.producer.publish(body, **publish_kwargs)
        if announced or not self._announce_after:
            return
        published = {
            "sender": task,
            "body": body,
            "headers": publish_kwargs["headers"],
            "exchange": publish_kwargs.get("exchange"),
            "routing_key": publish_kwargs.get("routing_key"),
        }
        if buffered:
            self._published_unannounced.append(published)  # announced after the pipeline's round trip
        else:
            signals.after_task_publish.send(**published)

    def _announce_before_publish(self, task: str, body: Any, publish_kwargs: dict[str, Any]) -> bool:
        """``before_task_publish`` with this message's own headers and properties, as Celery sends it; receivers
        may change both. False when they changed a property (not a header): the message must then go through
        kombu whole, since a pipelined envelope only carries per-message headers, id and expiry."""
        properties = {name: value for name, value in publish_kwargs.items() if name not in _PUBLISH_ARGUMENTS}
        before = dict(properties)
        signals.before_task_publish.send(
            sender=task,
            body=body,
            exchange=publish_kwargs.get("exchange"),
            routing_key=publish_kwargs.get("routing_key"),
            declare=publish_kwargs.get("declare"),
            headers=publish_kwargs["headers"],
            properties=properties,
            retry_policy=publish_kwargs.get("retry_policy"),
        )
        if properties == before:
            return True
        publish_kwargs.update(properties)
        return False

    def flush(self) -> None:
        """Send what :meth:`publish` buffered for Redis' pipeline (one round trip); kombu's own batch, if any,
        is flushed by its context manager. Then ``after_task_publish`` for the messages that just went out."""
        if self._redis is not None:
            self._redis.flush()
        published, self._published_unannounced = self._published_unannounced, []
        for message in published:
            signals.after_task_publish.send(**message)

    @staticmethod
    def _shape_key(run: SendableRun, schedule: Schedule, call: _Call) -> ShapeKey:
        return (
            run.task,
            schedule.option("queue"),
            schedule.exchange,
            schedule.routing_key,
            schedule.priority,
            call.expires_at is not None,
        )

    def _template(self, key: ShapeKey, run: SendableRun, schedule: Schedule, call: _Call) -> _Template | None:
        if key not in self._templates:
            self._learn_shape(key, run, schedule, call, with_headers=False)
        template = self._templates[key]
        if template is not None and template.publish_kwargs.get("declare") is not None:
            # Only the first run of a shape declares its queue: kombu re-binds and re-checks it on every publish.
            self._templates[key] = _Template(template.embed, {**template.publish_kwargs, "declare": None})
        return template

    def _learn_shape(
        self, key: ShapeKey, run: SendableRun, schedule: Schedule, call: _Call, *, with_headers: bool
    ) -> tuple[Any, dict[str, Any]]:
        """Let Celery build this run's message and keep its shape's template (None: not derivable); return the
        message. ``with_headers``: with our headers, so that the publish signals Celery sends meanwhile see the
        run's real message; the template then leaves them out again (each run adds its own)."""
        recorder = _RecordingProducer(self.producer.channel, auto_declare=False)
        options = _routing_options(schedule)
        if call.expires_at is not None:
            options["expires"] = call.expires_at
        own_headers = run_headers(schedule, run) if with_headers else {}
        if own_headers:
            options["headers"] = own_headers
        self.app.send_task(
            run.task, args=call.args, kwargs=call.kwargs, task_id=run.task_id, producer=recorder, **options
        )
        assert recorder.recorded is not None, "send_task publishes through the producer it is given"
        body, publish_kwargs = recorder.recorded
        # Announced, the message also holds what the receivers added for this run (a trace id): the template keeps
        # Celery's own headers only, so that each later run reaches the receivers as send_task would show it.
        kept = self._protocol_headers() if with_headers else None
        template_headers = {
            name: value
            for name, value in publish_kwargs["headers"].items()
            if name not in own_headers and (kept is None or name in kept)
        }
        template_kwargs = {**publish_kwargs, "headers": template_headers}
        if with_headers:
            template_kwargs["declare"] = None  # this very message declares the queue
        patchable = _is_patchable(body, template_kwargs, task_id=run.task_id, expires_given=call.expires_at is not None)
        self._templates[key] = _Template(embed=body[2], publish_kwargs=template_kwargs) if patchable else None
        if not patchable and run.task not in _REPORTED_SLOW_TASKS:
            _REPORTED_SLOW_TASKS.add(run.task)
            logger.info(
                "beat_store: runs of task %r are sent one by one with send_task (their message has per-run values "
                "beat_store does not set, such as a task-level countdown or expires)",
                run.task,
                extra={"action": "slow_send_path"},
            )
        return body, publish_kwargs

    def _protocol_headers(self) -> frozenset[str]:
        """The headers Celery's own message protocol sets (those of a bare message: they never vary)."""
        if self._protocol_header_names is None:
            bare = self.app.amqp.as_task_v2("00000000-0000-0000-0000-000000000000", "beat_store.bare")
            self._protocol_header_names = frozenset(bare.headers)
        return self._protocol_header_names

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
