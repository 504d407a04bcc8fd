"""WakeupWaiter: how a beat sleeps on its wake-up listener, and survives one that breaks."""

from __future__ import annotations

import pytest
from django.test import override_settings

from beat_store.wakeups import WakeupWaiter, configured_kind


class FakeListener:
    def __init__(self, *, woken: bool = False, error: Exception | None = None) -> None:
        self.woken, self.error = woken, error
        self.waits: list[float] = []
        self.closed = False

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        if self.error is not None:
            raise self.error
        return self.woken

    def close(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_without_wakeups_configured_celery_sleeps_as_before() -> None:
    waiter = WakeupWaiter(retry_after=lambda: 1.0, opener=lambda: None)

    assert waiter.sleep(0.8) == 0.8


def test_with_a_listener_the_sleep_happens_on_it_and_celery_does_not_sleep_again() -> None:
    listener = FakeListener(woken=True)
    waiter = WakeupWaiter(retry_after=lambda: 1.0, opener=lambda: listener)

    assert waiter.sleep(0.8) == 0.0
    assert listener.waits == [0.8]


def test_a_broken_listener_is_dropped_then_reopened_after_the_retry_delay() -> None:
    clock = Clock()
    broken, healthy = FakeListener(error=ConnectionError("server went away")), FakeListener()
    opened = iter([broken, healthy])
    waiter = WakeupWaiter(retry_after=lambda: 5.0, opener=lambda: next(opened), clock=clock)

    assert waiter.sleep(1.0) == 0.5, "the failed wait falls back to a short poll"
    assert broken.closed
    assert waiter.sleep(1.0) == 1.0, "no listener until the retry delay has passed: plain polling"
    clock.now += 5.0
    assert waiter.sleep(1.0) == 0.0
    assert healthy.waits == [1.0]


def test_a_listener_that_cannot_be_opened_leaves_the_beat_polling() -> None:
    def refuse() -> None:
        raise OSError("connection refused")

    waiter = WakeupWaiter(retry_after=lambda: 5.0, opener=refuse)

    assert waiter.sleep(1.0) == 1.0


@pytest.mark.parametrize(
    ("value", "kind"),
    [(None, None), ("", None), ("postgres", "postgres"), ("redis://h:6379/1", "redis://h:6379/1")],
)
def test_configured_kind(value: str | None, kind: str | None) -> None:
    with override_settings(BEAT_STORE_WAKEUPS=value):
        assert configured_kind() == kind


def test_an_unknown_kind_is_refused() -> None:
    with override_settings(BEAT_STORE_WAKEUPS="zeromq://somewhere"), pytest.raises(ValueError, match="WAKEUPS"):
        configured_kind()
