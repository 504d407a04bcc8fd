"""The worker-side write-back never hurts the task (#14 point 6): a database outage is logged once, the reports
wait, and are written, in order, when the database answers again. The executions functions are stand-ins here;
tests/integration/test_executions.py covers them against the real database."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import OperationalError

from beat_store import headers, receivers


class FlakyDatabase:
    """Records reports, refusing them while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.written: list[tuple[str, str]] = []

    def recorder(self, kind: str) -> Any:
        def record(task_id: str, **kwargs: Any) -> int:
            if self.down:
                raise OperationalError("could not connect to server")
            assert isinstance(kwargs.get("at", datetime.now()), datetime)
            self.written.append((kind, task_id))
            return 1

        return record


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Iterator[FlakyDatabase]:
    database = FlakyDatabase()
    monkeypatch.setattr(receivers.executions, "mark_started", database.recorder("started"))
    monkeypatch.setattr(receivers.executions, "mark_succeeded", database.recorder("succeeded"))
    monkeypatch.setattr(receivers, "drop_connection", lambda: None)
    receivers._pending.clear()
    monkeypatch.setattr(receivers, "_outage_logged", False)
    yield database
    receivers._pending.clear()


def task(task_id: str) -> Any:
    request = SimpleNamespace(id=task_id, hostname="w1@host", headers={headers.EXECUTION: "1"})
    return SimpleNamespace(request=request)


def run_task(task_id: str) -> None:
    receivers.on_task_prerun(task_id=task_id, task=task(task_id))
    receivers.on_task_success(sender=task(task_id), result=3)


def test_an_outage_is_logged_once_and_the_reports_catch_up_in_order(
    database: FlakyDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    database.down = True
    with caplog.at_level(logging.WARNING, logger="beat_store.receivers"):
        run_task("a")  # no exception reaches Celery, so the task is unaffected
        run_task("b")
        waiting = len(receivers._pending)
        database.down = False
        run_task("c")

    assert waiting == 4
    assert database.written == [
        ("started", "a"),
        ("succeeded", "a"),
        ("started", "b"),
        ("succeeded", "b"),
        ("started", "c"),
        ("succeeded", "c"),
    ]
    outage = [r for r in caplog.records if "cannot record run states" in r.getMessage()]
    recovery = [r for r in caplog.records if "recording run states again" in r.getMessage()]
    assert len(outage) == 1
    assert len(recovery) == 1
    assert not any(r.exc_info for r in caplog.records)


def test_the_waiting_reports_are_bounded(database: FlakyDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(receivers, "_pending", receivers.deque(maxlen=3))
    database.down = True

    for name in "abcd":
        run_task(name)

    assert [args[0] for _, args, _ in receivers._pending] == ["c", "d", "d"]


def test_reports_from_several_threads_are_all_written_once(database: FlakyDatabase) -> None:
    names = [f"task-{index}" for index in range(40)]
    threads = [threading.Thread(target=run_task, args=(name,)) for name in names]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(database.written) == sorted([(kind, name) for name in names for kind in ("started", "succeeded")])
    assert not receivers._pending
