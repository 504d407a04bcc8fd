"""MessageFactory publishes, for every run, exactly what ``app.send_task`` would have published.

Both paths are recorded at ``Producer.publish`` (the call kombu turns into the broker message), for the second
run of a shape, which the factory derives from the first instead of asking Celery again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from celery import Celery, signals
from kombu import Producer

from beat_store.models import Execution, Schedule
from beat_store.sending.messages import MessageFactory, message_options

# send_task computes a message's TTL from the real clock, so the runs are due about now.
FIRE_TIME = datetime.now(timezone.utc) - timedelta(seconds=5)


def now() -> datetime:
    return datetime.now(timezone.utc)


class Recorder(Producer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.published: list[tuple[Any, dict[str, Any]]] = []

    def publish(self, body: Any, **kwargs: Any) -> None:  # type: ignore[override]
        self.published.append((body, kwargs))


@pytest.fixture
def app() -> Iterator[Celery]:
    app = Celery("messages-test", broker="memory://", set_as_current=False)
    app.conf.task_routes = {"proj.routed": {"queue": "routed-queue", "routing_key": "routed.key"}}

    @app.task(name="proj.with_options", shared=False, priority=4, time_limit=30, ignore_result=True)
    def with_options(*args: Any, **kwargs: Any) -> None:
        pass

    @app.task(name="proj.expiring", shared=False, expires=120)
    def expiring(*args: Any, **kwargs: Any) -> None:
        pass

    app.finalize()  # as in a running beat: send_task applies registered tasks' own options
    with app.connection_for_write() as connection:
        yield app
        connection.release()


def run_of(task: str, *, number: int, **schedule_fields: Any) -> Execution:
    schedule = Schedule(
        pk=number,
        name=f"schedule-{number}",
        task=task,
        trigger={"type": "interval", "seconds": 60},
        args=schedule_fields.pop("args", [number, f"arg-{number}"]),
        kwargs=schedule_fields.pop("kwargs", {"n": number}),
        **schedule_fields,
    )
    return Execution(
        pk=1000 + number,
        schedule=schedule,
        schedule_name=schedule.name,
        task=task,
        fire_time=FIRE_TIME,
        send_at=FIRE_TIME,
        task_id=f"00000000-0000-0000-0000-{number:012d}",
        deadline_at=schedule_fields.get("deadline_at"),
    )


def send_task_message(app: Celery, run: Execution, *, at: datetime | None = None) -> tuple[Any, dict[str, Any]]:
    assert run.schedule is not None
    recorder = Recorder(app.connection_for_write().default_channel, auto_declare=False)
    app.send_task(
        run.task,
        args=list(run.schedule.args),
        kwargs=dict(run.kwargs_override if run.kwargs_override is not None else run.schedule.kwargs),
        task_id=run.task_id,
        producer=recorder,
        **message_options(run.schedule, run, now=at or now()),
    )
    (message,) = recorder.published
    return message


def factory_messages(
    app: Celery, runs: list[Execution], *, at: datetime | None = None
) -> list[tuple[Any, dict[str, Any]]]:
    recorder = Recorder(app.connection_for_write().default_channel, auto_declare=False)
    factory = MessageFactory(app, recorder)
    for run in runs:
        factory.publish(run, now=at or now())
    return recorder.published


def comparable(message: tuple[Any, dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
    """Drop what may differ without changing the delivered message: a queue declaration already made, and
    the TTL in seconds, which both paths compute from the clock at slightly different instants."""
    body, kwargs = message
    kwargs = dict(kwargs)
    kwargs.pop("declare", None)
    expiration = kwargs.pop("expiration", None)
    return body, {**kwargs, "expiration": None if expiration is None else pytest.approx(expiration, abs=1.0)}


CASES = {
    "plain task, default routing": dict(task="proj.plain"),
    "queue, exchange, routing key, priority": dict(
        task="proj.plain", queue="reports", exchange="jobs", routing_key="jobs.reports", priority=7
    ),
    "custom headers, one clashing with beat_store's": dict(
        task="proj.plain", headers={"tenant": "acme", "beat_store_schedule": "ignored"}
    ),
    "expires earlier than the start deadline": dict(task="proj.plain", expires=30.0, misfire_grace_time=3600.0),
    "start deadline earlier than expires": dict(task="proj.plain", expires=7200.0, misfire_grace_time=3600.0),
    "task_routes of the app": dict(task="proj.routed"),
    "registered task with its own options": dict(task="proj.with_options"),
    "nested and odd arguments": dict(
        task="proj.plain", args=[{"a": [1, 2, {"b": None}]}, "x" * 500], kwargs={"when": "2026-12-01", "n": 1.5}
    ),
}


@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_a_derived_message_is_the_one_send_task_builds(app: Celery, fields: dict[str, Any]) -> None:
    first, second = run_of(number=1, **dict(fields)), run_of(number=2, **dict(fields))
    for run in (first, second):
        if run.schedule is not None and run.schedule.misfire_grace_time is not None:
            run.deadline_at = FIRE_TIME + timedelta(seconds=run.schedule.misfire_grace_time)

    at = now()  # a schedule's expires counts from the moment of sending: the same one for both paths

    published = factory_messages(app, [first, second], at=at)

    assert [comparable(message) for message in published] == [
        comparable(send_task_message(app, first, at=at)),
        comparable(send_task_message(app, second, at=at)),
    ]
    assert published[1][1]["headers"]["id"] == second.task_id


def test_manual_run_keyword_override_is_what_goes_out(app: Celery) -> None:
    first, second = run_of("proj.plain", number=1), run_of("proj.plain", number=2)
    second.kwargs_override = {"only": "this"}

    published = factory_messages(app, [first, second])

    assert published[1][0][1] == {"only": "this"}
    assert comparable(published[1]) == comparable(send_task_message(app, second))


def test_only_the_first_run_of_a_shape_declares_its_queue(app: Celery) -> None:
    runs = [run_of("proj.plain", number=n, queue="reports") for n in range(1, 4)]

    published = factory_messages(app, runs)

    assert [bool(kwargs.get("declare")) for _, kwargs in published] == [True, False, False]


def test_a_task_level_expires_keeps_send_task_for_every_run(app: Celery) -> None:
    """Celery turns a task's ``expires`` into a per-message time: nothing to derive, so send_task builds each."""
    runs = [run_of("proj.expiring", number=n) for n in range(1, 3)]

    published = factory_messages(app, runs)

    for run, message in zip(runs, published, strict=True):
        expected = send_task_message(app, run)
        # Each send_task call stamps "now + 120 s" itself, so the two expiry times differ by the time between.
        sent_expiry, expected_expiry = (
            datetime.fromisoformat(m[1]["headers"].pop("expires")) for m in (message, expected)
        )
        assert abs(sent_expiry - expected_expiry) < timedelta(seconds=1)
        assert comparable(message) == comparable(expected)


def test_publish_signal_receivers_get_every_run_through_send_task(app: Celery) -> None:
    seen: list[str] = []

    def on_publish(sender: str, headers: dict[str, Any], **kwargs: Any) -> None:
        seen.append(headers["id"])

    signals.before_task_publish.connect(on_publish)
    try:
        runs = [run_of("proj.plain", number=n) for n in range(1, 4)]
        factory_messages(app, runs)
    finally:
        signals.before_task_publish.disconnect(on_publish)

    assert seen == [run.task_id for run in runs]


class TracingReceivers:
    """What a tracing integration connects: it stamps a header from the task id before publishing (trace
    propagation), and closes its span after. Records every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.headers_seen: list[set[str]] = []

    def before(self, sender: str, headers: dict[str, Any], properties: dict[str, Any], **kwargs: Any) -> None:
        self.calls.append(("before", headers["id"]))
        self.headers_seen.append(set(headers))
        headers["traceparent"] = f"00-{headers['id'].replace('-', '')}-0000000000000001-01"

    def after(self, sender: str, headers: dict[str, Any], **kwargs: Any) -> None:
        self.calls.append(("after", headers["id"]))

    def __enter__(self) -> TracingReceivers:
        signals.before_task_publish.connect(self.before)
        signals.after_task_publish.connect(self.after)
        return self

    def __exit__(self, *exc_info: object) -> None:
        signals.before_task_publish.disconnect(self.before)
        signals.after_task_publish.disconnect(self.after)


@pytest.mark.parametrize("fields", CASES.values(), ids=CASES.keys())
def test_with_publish_receivers_derived_messages_are_still_the_ones_send_task_builds(
    app: Celery, fields: dict[str, Any]
) -> None:
    runs = [run_of(number=n, **dict(fields)) for n in range(1, 4)]
    for run in runs:
        if run.schedule is not None and run.schedule.misfire_grace_time is not None:
            run.deadline_at = FIRE_TIME + timedelta(seconds=run.schedule.misfire_grace_time)
    at = now()

    with TracingReceivers() as receivers:
        published = factory_messages(app, runs, at=at)
        calls, seen = list(receivers.calls), list(receivers.headers_seen)
        expected = [send_task_message(app, run, at=at) for run in runs]

    assert calls == [(moment, run.task_id) for run in runs for moment in ("before", "after")]
    # Each run's receivers see its message as send_task would show it: its own headers, none left by the first.
    assert seen == receivers.headers_seen[len(runs) :]

    assert [comparable(message) for message in published] == [comparable(message) for message in expected]
    assert [message[1]["headers"]["traceparent"][3:35] for message in published] == [
        run.task_id.replace("-", "") for run in runs
    ]


def test_with_publish_receivers_the_template_is_derived_and_send_task_is_not_called_per_run(
    app: Celery, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [run_of("proj.plain", number=n) for n in range(1, 5)]
    calls = 0
    send_task = app.send_task

    def counting_send_task(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return send_task(*args, **kwargs)

    monkeypatch.setattr(app, "send_task", counting_send_task)
    with TracingReceivers():
        published = factory_messages(app, runs)

    assert calls == 1  # the first run's, which builds the template; the others are derived
    assert len(published) == 4


def test_a_receiver_that_changes_a_property_gets_it_published(app: Celery) -> None:
    def urgent(sender: str, properties: dict[str, Any], **kwargs: Any) -> None:
        properties["priority"] = 9

    runs = [run_of("proj.plain", number=n) for n in range(1, 3)]
    signals.before_task_publish.connect(urgent)
    try:
        published = factory_messages(app, runs)
        expected = [send_task_message(app, run) for run in runs]
    finally:
        signals.before_task_publish.disconnect(urgent)

    assert [message[1]["priority"] for message in published] == [9, 9]
    assert [comparable(message) for message in published] == [comparable(message) for message in expected]
