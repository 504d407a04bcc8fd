"""Publishing a herd to kombu's Redis transport: kombu's own envelope, one pipelined round trip per chunk.

``Producer.publish`` costs tens of microseconds a message on Redis: it serializes the body, builds a message
dict, routes it through the exchange and encodes the envelope, every time. In a herd, runs of one shape (see
``messages``) differ only in their body, headers, correlation id, expiry and delivery tag, and go to the same
Redis list. So the first run of a shape is published through kombu with the transport's final step captured:
the Redis commands kombu's virtual channel would run (``Channel._put`` with a command collector, the way
``Producer.batch()`` collects them). From those commands we keep the target list and kombu's envelope; later
runs reuse both, with their own values put where kombu puts them, and are pushed on one pipeline.

This leans on kombu internals (``Channel._put``'s ``_publish_batch`` argument, the envelope's fields), so it is
guarded: for each shape, the envelope this module would build for the very message kombu just produced must
equal kombu's (its random delivery tag aside). When it does not (a kombu that changed its envelope), the shape
keeps ``Producer.publish`` and a warning says so once: a kombu change makes a herd slower, never wrong. Where the
capture yields no commands (a kombu without command collection, which pushes at once), the shape keeps
``Producer.publish`` too. CI tests the kombu minor ``setup.cfg``'s test extra pins.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kombu import Producer
from kombu.serialization import dumps as serialize
from kombu.utils.json import dumps as dump_envelope
from kombu.utils.json import loads as load_envelope
from kombu.utils.uuid import uuid

logger = logging.getLogger(__name__)

#: Whether the "kombu's envelope changed" warning was logged (once per process: every herd would repeat it).
_reported_mismatch = False

#: A Redis command as kombu's channel issues it: method name of the redis client, then its arguments.
Command = tuple[str, tuple[Any, ...]]


@dataclass(frozen=True)
class Envelope:
    """kombu's envelope of one run of a shape, and where it goes."""

    message: dict[str, Any]
    key: str  # the Redis list kombu pushes to (queue name, with its priority suffix)
    after_push: tuple[Command, ...]  # what kombu runs after the push (queue expiry), the same for every run
    serializer: str | None


class _CommandCollector:
    """Stands in for kombu's publish batch: keeps the commands ``Channel._put`` adds instead of running them."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def add(self, name: str, *args: Any) -> None:
        self.commands.append((name, args))


def supports(producer: Any) -> bool:
    """Is ``producer`` on kombu's Redis transport (or one built on it, like Sentinel)?"""
    channel = producer.channel
    return (
        getattr(producer.connection.transport, "driver_type", None) == "redis"
        and callable(getattr(channel, "_put", None))
        and callable(getattr(channel, "encode_body", None))
        and hasattr(channel, "client")
    )


class RedisPipelinePublisher:
    """Buffers runs' messages for one Redis pipeline; :meth:`flush` sends them in one round trip."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.channel = producer.channel
        self._pipeline: Any = None  # holds at least one command when set
        self._captured: list[Command] | None = None  # see capturing()

    def learn(self, body: Any, publish_kwargs: dict[str, Any]) -> Envelope | None:
        """Publish one message through kombu, buffering the commands it would run; return its envelope, or None
        when kombu published it directly (nothing to derive later messages from)."""
        if publish_kwargs.get("compression") or publish_kwargs.get("content_type"):
            self.producer.publish(body, **publish_kwargs)  # per-message work we do not repeat: kombu does it all
            return None
        collector = _CommandCollector()
        original_put = self.channel._put
        patched_before = vars(self.channel).get("_put")

        def collecting_put(queue: str, message: dict[str, Any], **kwargs: Any) -> Any:
            kwargs["_publish_batch"] = collector
            return original_put(queue, message, **kwargs)

        # A producer of its own: the pooled one may be inside Producer.batch(), which would take the message.
        producer = Producer(self.channel, exchange=self.producer.exchange, auto_declare=False)
        self.channel._put = collecting_put
        try:
            producer.publish(body, **publish_kwargs)
        finally:
            if patched_before is None:
                del self.channel._put  # the instance attribute goes; the class's method is back
            else:
                self.channel._put = patched_before
        if not collector.commands:
            return None  # this kombu pushed it itself
        self._buffer(collector.commands)
        envelope = self._envelope_from(collector.commands, body, publish_kwargs)
        if envelope is None:
            # This message is on the pipeline as kombu built it; later ones of its shape go through kombu
            # directly, so send it now to keep the order of the chunk.
            self.flush()
        return envelope

    def _envelope_from(self, commands: list[Command], body: Any, publish_kwargs: dict[str, Any]) -> Envelope | None:
        """The envelope later messages of this shape can be derived from, or None when they cannot be."""
        (push, *after) = commands
        if push[0] != "lpush" or len(push[1]) != 2:
            return None  # a command we do not know
        key, payload = push[1]
        envelope = Envelope(
            message=load_envelope(payload),
            key=key,
            after_push=tuple(after),
            serializer=publish_kwargs.get("serializer"),
        )
        if not self.reproduces(envelope, body, publish_kwargs):
            _report_mismatch(envelope)
            return None
        return envelope

    def reproduces(self, envelope: Envelope, body: Any, publish_kwargs: dict[str, Any]) -> bool:
        """Would :meth:`envelope_of` rebuild, for the message kombu just enveloped, kombu's envelope exactly?

        Compared as JSON, as the worker reads it; the delivery tag is random per message, so it is left out.
        """
        derived = load_envelope(dump_envelope(self.envelope_of(envelope, body, publish_kwargs)))
        return _without_delivery_tag(derived) == _without_delivery_tag(envelope.message)

    def push(self, envelope: Envelope, body: Any, publish_kwargs: dict[str, Any]) -> None:
        """Buffer the message ``Producer.publish(body, **publish_kwargs)`` would send, in ``envelope``'s shape."""
        self._buffer([("lpush", (envelope.key, dump_envelope(self.envelope_of(envelope, body, publish_kwargs))))])
        if envelope.after_push:
            self._buffer(envelope.after_push)

    def envelope_of(self, envelope: Envelope, body: Any, publish_kwargs: dict[str, Any]) -> dict[str, Any]:
        """``envelope`` with this message's own values where kombu puts them (``Producer.publish``,
        ``Channel.prepare_message``, ``Channel.basic_publish``)."""
        template = envelope.message
        _, _, payload = serialize(body, serializer=envelope.serializer)
        encoded, _ = self.channel.encode_body(payload, template["properties"].get("body_encoding"))
        properties = copy.copy(template["properties"])
        if "correlation_id" in publish_kwargs:
            properties["correlation_id"] = publish_kwargs["correlation_id"]
        properties["delivery_tag"] = uuid()
        expiration = publish_kwargs.get("expiration")
        if expiration is not None:
            properties["expiration"] = str(int(expiration * 1000))
        message = dict(template)
        message["body"] = encoded
        message["headers"] = publish_kwargs["headers"]
        message["properties"] = properties
        return message

    def flush(self) -> None:
        """Send what is buffered in one round trip; raises what the connection raises (the batch is then in
        doubt, as with kombu's own batches)."""
        if self._pipeline is None:
            return
        pipeline, self._pipeline = self._pipeline, None
        pipeline.execute()

    @contextmanager
    def capturing(self) -> Iterator[list[Command]]:
        """Collect the commands :meth:`learn` and :meth:`push` buffer meanwhile, instead of queuing them on the
        pipeline: a staged message (``staging``) is kept for later, not sent."""
        captured: list[Command] = []
        self._captured = captured
        try:
            yield captured
        finally:
            self._captured = None

    def _buffer(self, commands: list[Command] | tuple[Command, ...]) -> None:
        if self._captured is not None:
            self._captured.extend(commands)
            return
        if self._pipeline is None:
            self._pipeline = self.channel.client.pipeline(transaction=False)
        for name, args in commands:
            getattr(self._pipeline, name)(*args)


def _without_delivery_tag(message: dict[str, Any]) -> dict[str, Any]:
    properties = message.get("properties")
    if not isinstance(properties, dict):
        return message
    return {**message, "properties": {name: value for name, value in properties.items() if name != "delivery_tag"}}


def _report_mismatch(envelope: Envelope) -> None:
    global _reported_mismatch
    if _reported_mismatch:
        return
    _reported_mismatch = True
    logger.warning(
        "beat_store: this kombu's Redis envelope differs from the one beat_store derives (fields: %s); runs are "
        "published through kombu one by one instead of pipelined. Herds are slower, not wrong; please report "
        "the kombu version.",
        ", ".join(sorted(envelope.message)),
        extra={"action": "redis_envelope_mismatch"},
    )
