"""The guard of the Redis fast path, without Redis: an envelope is derived only where it reproduces kombu's.

``RedisPipelinePublisher.reproduces`` rebuilds, from a shape's envelope, the envelope of the very message kombu
enveloped, and compares the two. These cases give it kombu's envelope as kombu 5.7 builds it, then the same
envelope with one change of the kind a later kombu could make.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from kombu.serialization import dumps as serialize

from beat_store.sending.redis_pipeline import Envelope, RedisPipelinePublisher

BODY = ([1, 2], {"n": 3}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})
PUBLISH_KWARGS: dict[str, Any] = {
    "serializer": "json",
    "headers": {"id": "task-1", "task": "proj.add", "beat_store_schedule": "nightly"},
    "correlation_id": "task-1",
    "expiration": 30.0,
}


class FakeChannel:
    """What the guard reads of kombu's Redis channel: its body encoder."""

    def encode_body(self, body: bytes | str, encoding: str | None) -> tuple[str, str | None]:
        raw = body.encode() if isinstance(body, str) else body
        return (base64.b64encode(raw).decode(), encoding) if encoding == "base64" else (raw.decode(), encoding)


def kombu_envelope() -> dict[str, Any]:
    """The envelope kombu 5.7's Redis transport pushes for BODY and PUBLISH_KWARGS."""
    _, _, payload = serialize(BODY, serializer="json")
    return {
        "body": base64.b64encode(payload.encode() if isinstance(payload, str) else payload).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": dict(PUBLISH_KWARGS["headers"]),
        "properties": {
            "correlation_id": "task-1",
            "expiration": "30000",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "celery"},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": "tag-of-this-message",
        },
    }


def guard_accepts(message: dict[str, Any]) -> bool:
    publisher = RedisPipelinePublisher(SimpleNamespace(channel=FakeChannel()))
    envelope = Envelope(message=message, key="celery", after_push=(), serializer="json")
    return publisher.reproduces(envelope, BODY, copy.deepcopy(PUBLISH_KWARGS))


def test_kombus_own_envelope_is_reproduced() -> None:
    assert guard_accepts(kombu_envelope())


def _changed(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    message = kombu_envelope()
    change(message)
    return message


CHANGES = {
    "the body encoded otherwise": lambda m: m.update(body=m["body"][::-1]),
    "the body encoding no longer said": lambda m: m["properties"].pop("body_encoding"),
    "the correlation id kept elsewhere": lambda m: m.update(correlation=m["properties"].pop("correlation_id")),
    "the expiry in seconds, not milliseconds": lambda m: m["properties"].update(expiration="30"),
    "the headers kept in the properties": lambda m: m["properties"].update(application_headers=m.pop("headers")),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_an_envelope_whose_per_message_values_moved_is_refused(change: Callable[[dict[str, Any]], Any]) -> None:
    assert not guard_accepts(_changed(change))


def test_the_delivery_tag_alone_may_differ() -> None:
    assert guard_accepts(_changed(lambda m: m["properties"].update(delivery_tag="another")))
