"""Writing a worker's run reports: in order, and never holding a task up for long (#14 point 6).

A report is one ``executions.mark_*`` call made from a Celery worker signal. :class:`ReportWriter` hands it to
one writer thread per worker process, and the task's thread waits for it at most ``REPORT_WAIT`` seconds:

- with a healthy database the record is written before the task goes on, as it would be inline (a few ms);
- when the database refuses (down, unreachable), the reports wait in the writer, at most
  ``PENDING_REPORTS_MAX`` (the oldest dropped first), and are retried in order with back-off, so the records
  catch up without waiting for another task; the worker log says so once per outage, with no traceback;
- when the database is slow or hangs, a task waits at most ``REPORT_WAIT`` once, and not at all while the writer
  is still held up by an older report; the log says so once.

A report made inside a transaction of the calling thread (a test's), or for a task run eagerly (``apply()``,
``task_always_eager``), is written inline on the calling thread's connection: another thread's connection could
not see the rows of an open transaction, and an eager caller expects the record written when ``apply()``
returns.
A run whose reports are lost for good ends ``lost`` like any run without news.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connection

from beat_store.db.connections import drop_connection

logger = logging.getLogger("beat_store.receivers")

#: Longest a task waits for its report to be written (seconds).
REPORT_WAIT = 1.0
#: Reports kept while the database refuses them; beyond, the oldest are dropped (their runs end ``lost``).
PENDING_REPORTS_MAX = 10_000
#: Back-off between attempts while the database refuses reports (seconds): doubled each time, up to the second.
RETRY_AFTER = (0.5, 30.0)


@dataclass(eq=False)
class _Report:
    record: Callable[..., int]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)

    def write(self) -> None:
        self.record(*self.args, **self.kwargs)
        self.done.set()


class ReportWriter:
    """Writes reports in the order they were made, on a thread of its own (see this module's docstring)."""

    def __init__(
        self,
        *,
        wait: float = REPORT_WAIT,
        max_pending: int = PENDING_REPORTS_MAX,
        retry_after: tuple[float, float] = RETRY_AFTER,
    ) -> None:
        self.wait = wait
        self.max_pending = max_pending
        self.retry_after = retry_after
        self._reset()

    def _reset(self) -> None:
        self._pending: deque[_Report] = deque(maxlen=self.max_pending)
        self._condition = threading.Condition()
        # One write at a time, the thread's or an inline one, so that reports reach the database in order.
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy_since: float | None = None
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

    def submit(self, record: Callable[..., int], *args: Any, inline: bool = False, **kwargs: Any) -> None:
        """Have ``record(*args, **kwargs)`` written after every earlier report; wait for it a little. ``inline``:
        on the calling thread (an eager task's report, which its caller expects written when ``apply()`` returns)."""
        report = _Report(record, args, kwargs)
        if inline or connection.in_atomic_block:
            self._write_inline(report)
            return
        with self._condition:
            self._pending.append(report)
            self._start_thread()
            self._condition.notify_all()
            held_up = self._busy_since is not None and time.monotonic() - self._busy_since > self.wait
            refusing = self._refusing
        if refusing:
            return
        if held_up or not report.done.wait(self.wait):
            self._log_slow()

    def flush(self, timeout: float) -> bool:
        """Wait until every report is written (at worker shutdown); False when some are still waiting."""
        deadline = time.monotonic() + timeout
        with self._condition:
            self._condition.notify_all()
            while self._pending and time.monotonic() < deadline:
                self._condition.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            left = len(self._pending)
        if left:
            logger.warning("beat_store: %d run report(s) could not be written before the worker stopped", left)
        return not left

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="beat_store-reports", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        retry_in = 0.0
        while True:
            with self._condition:
                while not self._pending:
                    self._condition.wait()
            if self._write_pending():
                retry_in = 0.0
                continue
            retry_in = min(self.retry_after[1], max(self.retry_after[0], retry_in * 2))
            with self._condition:
                self._condition.wait(retry_in)  # a shutdown's flush wakes it early

    def _write_pending(self) -> bool:
        """Write the waiting reports in order; False when the database refused one (it stays first in line)."""
        with self._write_lock:
            connection.close_if_unusable_or_obsolete()
            while True:
                with self._condition:
                    if not self._pending:
                        self._condition.notify_all()  # for flush()
                        break
                    report = self._pending[0]
                    self._busy_since = time.monotonic()
                try:
                    report.write()
                except DatabaseError as error:
                    drop_connection()
                    self._refusing = True
                    self._log_outage(error)
                    return False
                except Exception:
                    # A bug, not an outage: say so with the traceback and go on with the next report.
                    logger.exception("beat_store: a run report failed and is dropped")
                finally:
                    with self._condition:
                        self._busy_since = None
                with self._condition:
                    if self._pending and self._pending[0] is report:
                        self._pending.popleft()
        self._refusing = False
        self._log_recovery()
        return True

    def _write_inline(self, report: _Report) -> None:
        with self._write_lock:
            try:
                report.write()
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
