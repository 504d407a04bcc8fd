"""On real Redis, a run pushed through beat_store's pipeline lands exactly as kombu's ``Producer.publish`` lands
it: same list, same envelope (all but kombu's random delivery tag), same key order.

Each case publishes the same two runs twice: once the way ``send_task`` does (kombu all the way), once through
``MessageFactory`` on Redis, whose second run is derived from the first. The lists' raw contents are compared.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis
from celery import Celery, signals

from beat_store.models import Execution, Schedule
from beat_store.sending import redis_pipeline
from beat_store.sending.messages import MessageFactory, message_options

pytestmark = pytest.mark.redis

FIRE_TIME = datetime.now(timezone.utc) - timedelta(seconds=5)


@pytest.fixture
def app(redis_url: str) -> Iterator[Celery]:
    app = Celery("redis-pipeline-test", broker=redis_url, set_as_current=False)
    app.conf.task_routes = {"proj.routed": {"queue": "routed-queue", "routing_key": "routed-queue"}}
    app.conf.broker_transport_options = {"queue_order_strategy": "priority"}
    app.finalize()
    yield app
    app.close()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def run_of(number: int, **schedule_fields: Any) -> Execution:
    schedule = Schedule(
        pk=number,
        name=f"schedule-{number}",
        task=schedule_fields.pop("task", "proj.plain"),
        trigger={"type": "interval", "seconds": 60},
        args=[number, f"arg-{number}", "é"],
        kwargs={"n": number},
        **schedule_fields,
    )
    deadline = FIRE_TIME + timedelta(seconds=schedule.misfire_grace_time) if schedule.misfire_grace_time else None
    return Execution(
        pk=1000 + number,
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=FIRE_TIME,
        send_at=FIRE_TIME,
        task_id=f"00000000-0000-0000-0000-{number:012d}",
        deadline_at=deadline,
    )


def queued(client: redis.Redis) -> dict[str, list[dict[str, Any]]]:
    """Every list in the db, its items oldest first, each envelope without its delivery tag."""
    lists: dict[str, list[dict[str, Any]]] = {}
    for key in sorted(client.keys()):
        if client.type(key) != b"list":
            continue
        items = []
        for raw in reversed(client.lrange(key, 0, -1)):
            envelope = json.loads(raw)
            assert envelope["properties"].pop("delivery_tag")
            items.append(envelope)
        lists[key.decode()] = items
    return lists


def publish_with_kombu(app: Celery, runs: list[Execution], *, at: datetime) -> None:
    with app.producer_or_acquire() as producer:
        for run in runs:
            assert run.schedule is not None
            app.send_task(
                run.task,
                args=list(run.schedule.args),
                kwargs=dict(run.schedule.kwargs),
                task_id=run.task_id,
                producer=producer,
                **message_options(run.schedule, run, now=at),
            )


def publish_with_factory(app: Celery, runs: list[Execution], *, at: datetime) -> MessageFactory:
    with app.producer_or_acquire() as producer:
        factory = MessageFactory(app, producer)
        for run in runs:
            factory.publish(run, now=at)
        factory.flush()
    return factory


def without_ttl(lists: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The TTL in milliseconds, which send_task computes from the clock, whatever ``now`` we give it."""
    for items in lists.values():
        for envelope in items:
            if "expiration" in envelope["properties"]:
                envelope["properties"]["expiration"] = "<ttl>"
    return lists


CASES = {
    "plain task, default queue": {},
    "priority: kombu's priority list for the queue": {"priority": 7},
    "queue and routing key of the schedule": {"queue": "reports", "routing_key": "reports"},
    "the app's task_routes": {"task": "proj.routed"},
    "expiring: start deadline and expires": {"expires": 30.0, "misfire_grace_time": 3600.0},
    "schedule headers": {"headers": {"tenant": "acme"}},
}


@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_pushed_runs_land_as_kombu_lands_them(app: Celery, client: redis.Redis, fields: dict[str, Any]) -> None:
    runs = [run_of(number, **dict(fields)) for number in (1, 2, 3)]
    at = datetime.now(timezone.utc)

    publish_with_kombu(app, runs, at=at)
    by_kombu = queued(client)
    raw_by_kombu = {key: client.lrange(key, 0, -1) for key in by_kombu}
    client.flushdb()
    factory = publish_with_factory(app, runs, at=at)
    by_factory = queued(client)

    assert factory._redis is not None, "Redis gets the pipelined path"
    assert any(envelope is not None for envelope in factory._envelopes.values()), "later runs were derived"
    assert without_ttl(by_factory) == without_ttl(by_kombu)
    assert sum(len(items) for items in by_factory.values()) == 3
    # Same key order too: the envelopes differ by their delivery tags only (TTL aside).
    for key, items in raw_by_kombu.items():
        for kombu_raw, ours_raw in zip(items, client.lrange(key, 0, -1), strict=True):
            assert list(json.loads(kombu_raw)) == list(json.loads(ours_raw))
            assert list(json.loads(kombu_raw)["properties"]) == list(json.loads(ours_raw)["properties"])


def test_a_global_key_prefix_is_kept(redis_url: str, client: redis.Redis) -> None:
    """kombu's ``global_keyprefix`` transport option prefixes every key; the pipeline comes from the same client."""
    app = Celery("redis-pipeline-test", broker=redis_url, set_as_current=False)
    app.conf.broker_transport_options = {"global_keyprefix": "tenant-a:"}
    app.finalize()
    runs = [run_of(number) for number in (1, 2, 3)]
    at = datetime.now(timezone.utc)
    try:
        publish_with_kombu(app, runs, at=at)
        by_kombu = queued(client)
        client.flushdb()
        publish_with_factory(app, runs, at=at)
        by_factory = queued(client)
    finally:
        app.close()

    assert list(by_kombu) == ["tenant-a:celery"]
    assert by_factory == by_kombu


def test_delivery_tags_are_unique(app: Celery, client: redis.Redis) -> None:
    publish_with_factory(app, [run_of(number) for number in range(1, 50)], at=datetime.now(timezone.utc))

    tags = [json.loads(raw)["properties"]["delivery_tag"] for raw in client.lrange("celery", 0, -1)]

    assert len(tags) == len(set(tags)) == 49


def test_nothing_reaches_redis_before_the_flush(app: Celery, client: redis.Redis) -> None:
    with app.producer_or_acquire() as producer:
        factory = MessageFactory(app, producer)
        for number in (1, 2, 3):
            factory.publish(run_of(number), now=datetime.now(timezone.utc))
        assert client.llen("celery") == 0, "a chunk goes in one round trip, at the flush"
        factory.flush()
    assert client.llen("celery") == 3


def test_with_publish_receivers_runs_stay_pipelined_each_with_its_own_trace_header(
    app: Celery, client: redis.Redis
) -> None:
    """A tracing integration's receivers (before: stamp a trace header; after: end the span) keep the pipeline:
    every message lands as kombu lands it with send_task, and each run is announced after it is in Redis."""
    runs = [run_of(number) for number in (1, 2, 3, 4)]
    in_redis_when_announced: list[int] = []

    def stamp_trace(headers: dict[str, Any], **kwargs: Any) -> None:
        headers["traceparent"] = f"00-{headers['id'].replace('-', '')}-0000000000000001-01"

    def end_span(headers: dict[str, Any], **kwargs: Any) -> None:
        in_redis_when_announced.append(client.llen("celery"))

    at = datetime.now(timezone.utc)
    signals.before_task_publish.connect(stamp_trace)
    signals.after_task_publish.connect(end_span)
    try:
        publish_with_kombu(app, runs, at=at)
        by_kombu = queued(client)
        client.flushdb()
        in_redis_when_announced.clear()
        factory = publish_with_factory(app, runs, at=at)
    finally:
        signals.before_task_publish.disconnect(stamp_trace)
        signals.after_task_publish.disconnect(end_span)
    by_factory = queued(client)

    assert factory._redis is not None
    assert any(envelope is not None for envelope in factory._envelopes.values()), "later runs were derived"
    assert by_factory == by_kombu
    assert [envelope["headers"]["traceparent"][3:35] for envelope in by_factory["celery"]] == [
        run.task_id.replace("-", "") for run in runs
    ]
    # The first run is announced by Celery as it builds the template; the others once the pipeline has run.
    assert in_redis_when_announced == [0, 4, 4, 4]


def test_a_kombu_that_pushes_at_once_keeps_producer_publish(
    app: Celery, client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without command collection (kombu before 5.7), the capture yields nothing; nothing is lost or doubled."""

    def put_at_once(self: Any, queue: str, message: dict[str, Any], **kwargs: Any) -> None:
        self.client.lpush(queue, json.dumps(message))

    from kombu.transport import redis as kombu_redis

    monkeypatch.setattr(kombu_redis.Channel, "_put", put_at_once)

    factory = publish_with_factory(app, [run_of(number) for number in (1, 2, 3)], at=datetime.now(timezone.utc))

    assert set(factory._envelopes.values()) == {None}
    ids = sorted(json.loads(raw)["headers"]["id"] for raw in client.lrange("celery", 0, -1))
    assert ids == [run_of(number).task_id for number in (1, 2, 3)]


def _move_correlation_id(message: dict[str, Any]) -> None:
    message["correlation"] = message["properties"].pop("correlation_id")


def _headers_inside_properties(message: dict[str, Any]) -> None:
    message["properties"]["application_headers"] = message.pop("headers")
    message["headers"] = {}


#: Changes of where kombu puts a message's own values: derived envelopes would be wrong.
ENVELOPE_CHANGES = {
    "a property left out": lambda message: message["properties"].pop("body_encoding"),
    "the body encoded otherwise": lambda message: message.update(body=message["body"][::-1]),
    "the correlation id kept elsewhere": _move_correlation_id,
    "the headers kept elsewhere": _headers_inside_properties,
}
#: Changes that are the same for every message: derived envelopes carry them.
CONSTANT_ADDITIONS = {
    "a new top-level field": lambda message: message.update(trace_format="w3c"),
    "a new property": lambda message: message["properties"].update(body_checksum_kind="crc32"),
}


def patch_kombu_put(monkeypatch: pytest.MonkeyPatch, change: Callable[[dict[str, Any]], None]) -> None:
    """Make kombu's Redis channel put ``change``d envelopes, as a later kombu might."""
    from kombu.transport import redis as kombu_redis

    original_put = kombu_redis.Channel._put

    def put_changed_envelope(self: Any, queue: str, message: dict[str, Any], **kwargs: Any) -> Any:
        change(message)
        return original_put(self, queue, message, **kwargs)

    monkeypatch.setattr(kombu_redis.Channel, "_put", put_changed_envelope)


@pytest.mark.parametrize("change", CONSTANT_ADDITIONS.values(), ids=CONSTANT_ADDITIONS.keys())
def test_a_constant_addition_to_kombu_envelope_is_carried_by_derived_messages(
    app: Celery, client: redis.Redis, monkeypatch: pytest.MonkeyPatch, change: Callable[[dict[str, Any]], None]
) -> None:
    patch_kombu_put(monkeypatch, change)
    runs = [run_of(number) for number in (1, 2, 3)]
    at = datetime.now(timezone.utc)
    publish_with_kombu(app, runs, at=at)
    by_kombu = queued(client)
    client.flushdb()

    factory = publish_with_factory(app, runs, at=at)

    assert any(envelope is not None for envelope in factory._envelopes.values()), "later runs were derived"
    assert without_ttl(queued(client)) == without_ttl(by_kombu)


@pytest.mark.parametrize("change", ENVELOPE_CHANGES.values(), ids=ENVELOPE_CHANGES.keys())
def test_a_kombu_whose_envelope_changed_keeps_producer_publish_and_says_so_once(
    app: Celery,
    client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    change: Callable[[dict[str, Any]], None],
) -> None:
    """The guard: every message goes out as this (changed) kombu builds it, none as beat_store would derive it."""
    patch_kombu_put(monkeypatch, change)
    monkeypatch.setattr(redis_pipeline, "_reported_mismatch", False)
    runs = [run_of(number) for number in (1, 2, 3)]
    at = datetime.now(timezone.utc)
    publish_with_kombu(app, runs, at=at)
    by_kombu = queued(client)
    client.flushdb()

    with caplog.at_level("WARNING", logger=redis_pipeline.__name__):
        factory = publish_with_factory(app, runs, at=at)
        publish_with_factory(app, [run_of(number) for number in (4, 5)], at=at)

    assert set(factory._envelopes.values()) == {None}, "no shape derives its envelope"
    assert without_ttl(queued(client))["celery"][:3] == without_ttl(by_kombu)["celery"]
    assert len(queued(client)["celery"]) == 5
    mismatch_warnings = [record for record in caplog.records if "envelope differs" in record.getMessage()]
    assert len(mismatch_warnings) == 1, "said once per process, not once per herd"


def test_other_transports_are_left_to_kombu() -> None:
    app = Celery("redis-pipeline-test", broker="memory://", set_as_current=False)
    with app.producer_or_acquire() as producer:
        assert not redis_pipeline.supports(producer)
