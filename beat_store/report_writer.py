"""Writing a worker's run reports: in order, in batches, and without holding a task up (#14 point 6, #12).

A report is one ``executions.mark_*`` call made from a Celery worker signal. :class:`ReportWriter` hands it to
one writer thread per worker process, and the task goes on at once (#12: waiting for each report, a round trip
and a commit, cost a no-op task most of its worker's throughput):

- with a healthy database the writer lets reports gather for up to ``GATHER_FOR`` and writes them in one
  transaction, reports of one kind in one statement where their order allows (``beat_store.report_batches``), a
  run's reports always in the order they were made; the writer keeps its connection open whatever ``CONN_MAX_AGE``
  says (reconnecting for each batch cost more than the writes), checking it only after it sat idle;
- nothing a task does needs its reports written first, except reading its own record:
  ``beat_store.current_execution()`` waits (at most ``REPORT_WAIT``) for the reports made so far, so a task sees
  itself ``started``. Others read the record once the run is final (``Execution.wait()`` polls for that), and
  Celery stores a task's result before its success signal, so a result never promised the record written;
- when the database refuses (down, unreachable), the reports wait in the writer, at most
  ``PENDING_REPORTS_MAX`` (the oldest dropped first), and are retried in order with back-off, so the records
  catch up without waiting for another task; the worker log says so once per outage, with no traceback;
- when the database is slow or hangs, tasks still do not wait, unless more than ``BACKLOG_MAX`` reports are
  behind: then a task waits at most ``REPORT_WAIT`` once (a hung writer is not waited for again), which keeps a
  merely slow database from piling up reports; the log says so once.

A report made inside a transaction of the calling thread (a test's), or for a task run eagerly (``apply()``,
``task_always_eager``), is written inline on the calling thread's connection: another thread's connection could
not see the rows of an open transaction, and an eager caller expects the record written when ``apply()``
returns. The ``run_changed`` signals of a batch are sent after its commit, as those of one report were. A
stopping worker's ``flush`` has the waiting reports written at once, without gathering more.
A run whose reports are lost for good ends ``lost`` like any run without news.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from django.db import DatabaseError, connection, transaction

from beat_store.db.connections import drop_connection
from beat_store.report_batches import Many, Report, statements

logger = logging.getLogger("beat_store.receivers")

#: Longest a task waits for reports (seconds): when the writer is far behind, or for ``current_execution()``.
REPORT_WAIT = 1.0
#: Reports kept while the database refuses them; beyond, the oldest are dropped (their runs end ``lost``).
PENDING_REPORTS_MAX = 10_000
#: Reports behind beyond which a task waits for its own (at most ``REPORT_WAIT``), so a slow database slows the
#: tasks down rather than let reports pile up to ``PENDING_REPORTS_MAX``.
BACKLOG_MAX = 1_000
#: Reports written in one transaction, at most.
BATCH_MAX = 500
#: How long the writer lets reports gather after the first one before it writes them (seconds): a worker process
#: makes a report every few milliseconds, and a transaction for each cost more than the reports themselves (#12).
#: ``current_execution()`` and a stopping worker do not wait for it.
GATHER_FOR = 0.05
#: Back-off between attempts while the database refuses reports (seconds): doubled each time, up to the second.
RETRY_AFTER = (0.5, 30.0)
#: A connection idle this long (seconds) is checked before use: the server or a proxy may have closed it.
IDLE_CHECK_AFTER = 30.0


class ReportWriter:
    """Writes reports in the order they were made, on a thread of its own (see this module's docstring)."""

    def __init__(
        self,
        *,
        wait: float = REPORT_WAIT,
        max_pending: int = PENDING_REPORTS_MAX,
        backlog: int = BACKLOG_MAX,
        retry_after: tuple[float, float] = RETRY_AFTER,
        gather_for: float = GATHER_FOR,
        atomic: Callable[[], AbstractContextManager[Any]] = transaction.atomic,
    ) -> None:
        """``atomic``: the transaction a batch is written in (tests writing with stand-ins need none)."""
        self.wait = wait
        self.atomic = atomic
        self.max_pending = max_pending
        self.backlog = backlog
        self.retry_after = retry_after
        self.gather_for = gather_for
        self._reset()

    def _reset(self) -> None:
        self._pending: deque[Report] = deque(maxlen=self.max_pending)
        self._condition = threading.Condition()
        # One write at a time, the thread's or an inline one, so that reports reach the database in order.
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None
        self._last_written = time.monotonic()
        self._urgent = False  # someone waits for the reports: write them without gathering more
        self._refusing = False  # the database refused the last attempt: tasks do not wait for the retries
        self._outage_logged = False
        self._slow_logged = False

    def after_fork(self) -> None:
        """In a forked child (a prefork pool process): no writer thread, and not the parent's reports."""
        self._reset()

    @property
    def pending(self) -> int:
        """Reports not written yet."""
        with self._condition:
            return len(self._pending)

    def submit(
        self, record: Callable[..., int], *, inline: bool = False, many: Many | None = None, **kwargs: Any
    ) -> None:
        """Have ``record(**kwargs)`` written after every earlier report (``many``: its kind's form for several
        reports in one statement). ``inline``: on the calling thread (an eager task's report, which its caller
        expects written when ``apply()`` returns)."""
        report = Report(record, kwargs, many)
        if inline or connection.in_atomic_block:
            self._write_inline(report)
            return
        with self._condition:
            self._pending.append(report)
            self._start_thread()
            behind = len(self._pending) > self.backlog and not self._refusing
            if len(self._pending) == 1 or len(self._pending) >= BATCH_MAX or behind:
                self._urgent = self._urgent or behind
                self._condition.notify_all()  # the writer waits for a first report, or gathers until told
            held_up = self._held_up()
        if held_up or (behind and not report.done.wait(self.wait)):
            self._log_slow()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait (at most ``timeout``, default the writer's wait) until the reports made so far are written, unless
        the database refuses them or the writer is held up; False when some are still waiting."""
        with self._condition:
            if not self._pending:
                return True
            last = self._pending[-1]
            if self._refusing or self._held_up():
                return False
            self._urgent = True
            self._condition.notify_all()
        return last.done.wait(self.wait if timeout is None else timeout)

    def flush(self, timeout: float) -> bool:
        """Wait until every report is written (at worker shutdown); False when some are still waiting."""
        deadline = time.monotonic() + timeout
        with self._condition:
            self._urgent = True
            self._condition.notify_all()
            while self._pending and time.monotonic() < deadline:
                self._condition.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            left = len(self._pending)
        if left:
            logger.warning("beat_store: %d run report(s) could not be written before the worker stopped", left)
        return not left

    def _held_up(self) -> bool:
        """Has the writer been at one batch for longer than a task would wait? (Called holding the condition.)"""
        return self._busy_since is not None and time.monotonic() - self._busy_since > self.wait

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="beat_store-reports", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        retry_in = 0.0
        while True:
            self._gather()
            if self._write_pending():
                retry_in = 0.0
                continue
            retry_in = min(self.retry_after[1], max(self.retry_after[0], retry_in * 2))
            with self._condition:
                self._condition.wait(retry_in)  # a shutdown's flush wakes it early

    def _gather(self) -> None:
        """Wait for a first report, then up to ``gather_for`` for more, unless someone waits for them."""
        with self._condition:
            while not self._pending:
                self._condition.wait()
            until = time.monotonic() + self.gather_for
            while not self._urgent and len(self._pending) < BATCH_MAX and (left := until - time.monotonic()) > 0:
                self._condition.wait(left)

    def _write_pending(self) -> bool:
        """Write the reports waiting now, up to ``BATCH_MAX``, in one transaction; False when the database refused
        them (they stay first in line)."""
        with self._write_lock:
            self._check_idle_connection()
            with self._condition:
                batch = list(itertools.islice(self._pending, BATCH_MAX))
                self._busy_since = time.monotonic()
            try:
                self._write_batch(batch)
            except DatabaseError as error:
                drop_connection()
                self._refusing = True
                self._log_outage(error)
                return False
            finally:
                with self._condition:
                    self._busy_since = None
            self._last_written = time.monotonic()
            self._forget(batch)
        self._refusing = False
        self._log_recovery()
        return True

    def _check_idle_connection(self) -> None:
        """Drop this thread's connection only when it is unusable, and ask only after it sat idle.

        Not ``close_if_unusable_or_obsolete()``: under Django's default ``CONN_MAX_AGE = 0`` that closes it every
        time, and reconnecting for each batch cost a no-op task several times its own run (#12). The writer
        thread outlives any request, so the connection's age means nothing here; a connection that breaks while
        in use raises, and is dropped then (``_write_pending``).
        """
        if connection.connection is None or time.monotonic() - self._last_written < IDLE_CHECK_AFTER:
            return
        if not connection.is_usable():
            drop_connection()

    def _forget(self, batch: list[Report]) -> None:
        """Take a written batch off the queue (those of its reports the bound did not drop meanwhile)."""
        written = set(batch)
        with self._condition:
            while self._pending and self._pending[0] in written:
                self._pending.popleft()
            if not self._pending:
                self._urgent = False
                self._condition.notify_all()  # for flush()
        for report in batch:
            report.done.set()

    def _write_batch(self, batch: list[Report]) -> None:
        """Write ``batch`` in one transaction, as few statements as its order allows. A report that fails for
        another reason than the database (a bug) is logged with its traceback and dropped; the others are
        written."""
        with self.atomic():
            for statement in statements(batch):
                try:
                    statement.write()
                except DatabaseError:
                    raise
                except Exception:
                    logger.exception("beat_store: a run report failed and is dropped")

    def _write_inline(self, report: Report) -> None:
        with self._write_lock:
            try:
                report.write()
                report.done.set()
            except DatabaseError as error:
                self._log_outage(error)
                with self._condition:
                    self._pending.append(report)  # the writer thread retries it once the transaction is gone
                    self._start_thread()
                    self._condition.notify_all()

    def _log_outage(self, error: DatabaseError) -> None:
        if not self._outage_logged:
            self._outage_logged = True
            logger.warning(
                "beat_store: cannot record run states (%s); the tasks run as usual and %d report(s) wait to be "
                "written when the database answers again",
                error,
                self.pending,
            )

    def _log_recovery(self) -> None:
        if self._outage_logged or self._slow_logged:
            self._outage_logged = self._slow_logged = False
            logger.warning("beat_store: recording run states again; the waiting reports are written")

    def _log_slow(self) -> None:
        if not self._slow_logged and not self._outage_logged:
            self._slow_logged = True
            logger.warning(
                "beat_store: the database is slow to record run states; tasks no longer wait for it, and the "
                "reports are written in the background as it answers"
            )


#: The writer of this process.
writer = ReportWriter()
os.register_at_fork(after_in_child=writer.after_fork)
