"""BEAT_STORE_WAKEUPS: a beat that would poll only once a minute sees a saved schedule at once when woken
through PostgreSQL LISTEN/NOTIFY or Redis pub/sub (real beat processes, real servers)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.test import override_settings

from beat_store.api import add_schedule
from beat_store.models import BeatHeartbeat, Execution
from tests.integration.processes import CeleryProcesses, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

RARE_POLL = "60"  # seconds: what a beat without wake-ups would wait before seeing the edit


def wakeup_setting(kind: str, redis_url: str) -> str | None:
    if kind == "postgres":
        if connection.vendor != "postgresql":
            pytest.skip("LISTEN/NOTIFY needs the PostgreSQL suite")
        return "postgres"
    return redis_url if kind == "redis" else None


def edit_to_every_second_and_time_first_run(celery_processes: CeleryProcesses) -> float:
    schedule = add_schedule("edited", "tests.add", {"type": "cron", "expression": "0 0 1 1 *"}, args=[1, 2])
    celery_processes.start_beat()
    wait_until(BeatHeartbeat.objects.exists, timeout=30, message="beat's first tick")
    time.sleep(1.5)  # the beat is now asleep until its next poll
    started = time.monotonic()
    schedule.trigger = {"type": "interval", "seconds": 1}
    schedule.save()
    wait_until(
        lambda: Execution.objects.filter(schedule=schedule).exists(),
        timeout=15,
        interval=0.05,
        message="first run after the edit",
    )
    return time.monotonic() - started


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_woken_beat_runs_an_edit_long_before_its_next_poll(
    kind: str, celery_processes: CeleryProcesses, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wakeups = wakeup_setting(kind, redis_url)
    assert wakeups is not None
    monkeypatch.setenv("BEAT_STORE_WAKEUPS", wakeups)
    monkeypatch.setenv("BEAT_STORE_MAX_POLL_INTERVAL", RARE_POLL)

    with override_settings(BEAT_STORE_WAKEUPS=wakeups):  # this process sends the wake-up when it saves
        elapsed = edit_to_every_second_and_time_first_run(celery_processes)

    # The edit is seen at once; the new trigger's first fire time is at most a second later.
    assert elapsed < 3.0, celery_processes.logs()


def test_without_wakeups_the_same_beat_waits_for_its_poll(
    celery_processes: CeleryProcesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the quick runs above are the wake-up's doing, not an early poll."""
    monkeypatch.setenv("BEAT_STORE_MAX_POLL_INTERVAL", "8")

    elapsed = edit_to_every_second_and_time_first_run(celery_processes)

    assert elapsed > 4.0
