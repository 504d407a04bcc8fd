"""The worker-side write-back never hurts the task (#14 point 6): reports are written in order by a writer
thread; a database outage is logged once and the reports catch up when it answers again, without waiting for
another task; a slow or hung database holds a task up for at most ``REPORT_WAIT``, once. The executions functions
are stand-ins here; tests/integration/test_executions.py and test_worker_database_outage.py cover the real ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import OperationalError

from beat_store import headers, receivers, report_writer

WAIT = 0.3


class FlakyDatabase:
    """Records reports, refusing them while ``down`` and holding them while ``hung`` is cleared."""

    def __init__(self) -> None:
        self.down = False
        self.hung = threading.Event()
        self.hung.set()  # set: answers at once
        self.written: list[tuple[str, str]] = []

    def recorder(self, kind: str) -> Any:
        def record(task_id: str, **kwargs: Any) -> int:
            self.hung.wait(30)
            if self.down:
                raise OperationalError("could not connect to server")
            assert isinstance(kwargs.get("at", datetime.now()), datetime)
            self.written.append((kind, task_id))
            return 1

        return record


@pytest.fixture
def writer(monkeypatch: pytest.MonkeyPatch) -> report_writer.ReportWriter:
    writer = report_writer.ReportWriter(wait=WAIT, retry_after=(0.05, 0.2))
    monkeypatch.setattr(report_writer, "writer", writer)
    monkeypatch.setattr(report_writer, "drop_connection", lambda: None)
    return writer


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch, writer: report_writer.ReportWriter) -> Iterator[FlakyDatabase]:
    database = FlakyDatabase()
    monkeypatch.setattr(receivers.executions, "mark_started", database.recorder("started"))
    monkeypatch.setattr(receivers.executions, "mark_succeeded", database.recorder("succeeded"))
    yield database
    database.hung.set()
    database.down = False
    writer.flush(timeout=5)


def task(task_id: str) -> Any:
    request = SimpleNamespace(id=task_id, hostname="w1@host", headers={headers.EXECUTION: "1"})
    return SimpleNamespace(request=request)


def run_task(task_id: str) -> None:
    receivers.on_task_prerun(task_id=task_id, task=task(task_id))
    receivers.on_task_success(sender=task(task_id), result=3)


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_with_a_healthy_database_each_report_is_written_before_the_task_goes_on(database: FlakyDatabase) -> None:
    receivers.on_task_prerun(task_id="a", task=task("a"))

    assert database.written == [("started", "a")]


def test_an_outage_is_logged_once_and_the_reports_catch_up_in_order_without_another_task(
    database: FlakyDatabase, writer: report_writer.ReportWriter, caplog: pytest.LogCaptureFixture
) -> None:
    database.down = True
    with caplog.at_level(logging.WARNING, logger="beat_store.receivers"):
        began = time.monotonic()
        run_task("a")  # no exception reaches Celery, so the task is unaffected
        run_task("b")
        took = time.monotonic() - began
        wait_for(lambda: writer.pending == 4)
        database.down = False
        wait_for(lambda: writer.pending == 0)

    assert took < 2 * WAIT + 0.5, "tasks do not wait for a database that refuses"
    assert database.written == [("started", "a"), ("succeeded", "a"), ("started", "b"), ("succeeded", "b")]
    outage = [r for r in caplog.records if "cannot record run states" in r.getMessage()]
    recovery = [r for r in caplog.records if "recording run states again" in r.getMessage()]
    assert len(outage) == 1
    assert len(recovery) == 1
    assert not any(r.exc_info for r in caplog.records)


def test_a_hung_database_holds_a_task_up_once_for_at_most_the_wait(
    database: FlakyDatabase, writer: report_writer.ReportWriter, caplog: pytest.LogCaptureFixture
) -> None:
    database.hung.clear()
    with caplog.at_level(logging.WARNING, logger="beat_store.receivers"):
        timings = []
        for name in "abc":
            began = time.monotonic()
            run_task(name)
            timings.append(time.monotonic() - began)
        database.hung.set()
        wait_for(lambda: writer.pending == 0)

    assert timings[0] < 2 * WAIT + 0.2  # its two reports waited WAIT at most, each
    assert max(timings[1:]) < 0.1  # the writer is still held up: later tasks do not wait at all
    assert [name for _, name in database.written] == ["a", "a", "b", "b", "c", "c"]
    assert sum("slow to record run states" in r.getMessage() for r in caplog.records) == 1


def test_the_waiting_reports_are_bounded(monkeypatch: pytest.MonkeyPatch, database: FlakyDatabase) -> None:
    bounded = report_writer.ReportWriter(wait=WAIT, max_pending=3, retry_after=(5.0, 5.0))
    monkeypatch.setattr(report_writer, "writer", bounded)
    database.down = True

    for name in "abcd":
        run_task(name)
    wait_for(lambda: bounded.pending == 3)
    database.down = False
    bounded.flush(timeout=10)

    assert [name for _, name in database.written] == ["c", "d", "d"]


def test_reports_from_several_threads_are_all_written_once(
    database: FlakyDatabase, writer: report_writer.ReportWriter
) -> None:
    names = [f"task-{index}" for index in range(40)]
    threads = [threading.Thread(target=run_task, args=(name,)) for name in names]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    writer.flush(timeout=5)

    assert sorted(database.written) == sorted([(kind, name) for name in names for kind in ("started", "succeeded")])
    assert writer.pending == 0


def test_an_eager_tasks_reports_are_written_on_the_calling_thread(
    monkeypatch: pytest.MonkeyPatch, writer: report_writer.ReportWriter
) -> None:
    """``apply()`` and ``task_always_eager`` callers (tests) expect the record written when the call returns, in
    their own transaction."""
    threads: list[threading.Thread] = []
    monkeypatch.setattr(
        receivers.executions, "mark_started", lambda *args, **kwargs: threads.append(threading.current_thread())
    )
    eager = task("eager")
    eager.request.is_eager = True

    receivers.on_task_prerun(task_id="eager", task=eager)

    assert threads == [threading.current_thread()]
    assert writer._thread is None
