"""The worker-side write-back never hurts the task (#14 point 6, #12): reports are written in order by a writer
thread while the task goes on; a database outage is logged once and the reports catch up when it answers again,
without waiting for another task; a slow or hung database holds a task up only when reports pile up, for at most
``REPORT_WAIT``, once. The executions functions are stand-ins here; tests/integration/test_executions.py and
test_worker_database_outage.py cover the real ones.
"""

from __future__ import annotations

import contextlib
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
    writer = report_writer.ReportWriter(wait=WAIT, retry_after=(0.05, 0.2), atomic=contextlib.nullcontext)
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


def test_a_task_does_not_wait_for_its_reports_and_settle_waits_for_them(
    database: FlakyDatabase, writer: report_writer.ReportWriter
) -> None:
    """What ``current_execution()`` relies on: ``settle()`` returns once the reports made so far are written."""
    database.hung.clear()
    began = time.monotonic()
    run_task("a")
    took = time.monotonic() - began
    database.hung.set()

    assert took < 0.1
    assert writer.settle(timeout=5)
    assert database.written == [("started", "a"), ("succeeded", "a")]


def test_an_outage_is_logged_once_and_the_reports_catch_up_in_order_without_another_task(
    database: FlakyDatabase, writer: report_writer.ReportWriter, caplog: pytest.LogCaptureFixture
) -> None:
    database.down = True
    with caplog.at_level(logging.WARNING, logger="beat_store.receivers"):
        began = time.monotonic()
        run_task("a")  # no exception reaches Celery, so the task is unaffected
        run_task("b")
        took = time.monotonic() - began
        wait_for(lambda: any("cannot record run states" in r.getMessage() for r in caplog.records))
        assert writer.pending == 4
        database.down = False
        wait_for(lambda: writer.pending == 0)

    assert took < 2 * WAIT + 0.5, "tasks do not wait for a database that refuses"
    assert database.written == [("started", "a"), ("succeeded", "a"), ("started", "b"), ("succeeded", "b")]
    outage = [r for r in caplog.records if "cannot record run states" in r.getMessage()]
    recovery = [r for r in caplog.records if "recording run states again" in r.getMessage()]
    assert len(outage) == 1
    assert len(recovery) == 1
    assert not any(r.exc_info for r in caplog.records)


def test_a_hung_database_holds_no_task_up_until_reports_pile_up_then_one_for_at_most_the_wait(
    monkeypatch: pytest.MonkeyPatch, database: FlakyDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    writer = report_writer.ReportWriter(wait=WAIT, backlog=4, retry_after=(0.05, 0.2), atomic=contextlib.nullcontext)
    monkeypatch.setattr(report_writer, "writer", writer)
    database.hung.clear()
    with caplog.at_level(logging.WARNING, logger="beat_store.receivers"):
        timings = []
        for name in "abcdef":
            began = time.monotonic()
            run_task(name)
            timings.append(time.monotonic() - began)
        database.hung.set()
        wait_for(lambda: writer.pending == 0)

    # a's first report holds the writer; a and b go on at once (4 reports waiting); c's started, the fifth, waits
    # WAIT; by then the writer is held up, and nobody waits for it again
    assert max(timings[:2]) < 0.1
    assert WAIT - 0.05 < timings[2] < WAIT + 0.2
    assert max(timings[3:]) < 0.1
    assert [name for _, name in database.written] == [name for name in "abcdef" for _ in range(2)]
    assert sum("slow to record run states" in r.getMessage() for r in caplog.records) == 1


def test_the_waiting_reports_are_bounded(monkeypatch: pytest.MonkeyPatch, database: FlakyDatabase) -> None:
    bounded = report_writer.ReportWriter(
        wait=WAIT, max_pending=3, retry_after=(5.0, 5.0), atomic=contextlib.nullcontext
    )
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
