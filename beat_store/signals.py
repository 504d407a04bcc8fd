"""Django signals of what happens to schedules and runs (docs/spec.md "Signals").

Both are sent after the transaction that made the change commits, in the process that made it. A receiver's
exception is logged and never breaks the sender (beat, a herd, a task, a save): they are sent with
``send_robust``.

``schedule_changed``: ``schedule`` (the instance; for a removal, its last state) and ``change``, one of
``"added"``, ``"updated"``, ``"removed"``, ``"paused"``, ``"resumed"``; for every save and delete of a schedule
(API, admin, imports, settings sync, code), not for beat's own advancing of its state columns.

``run_changed``: ``execution_id``, ``schedule_name``, ``task_id``, ``fire_time``, ``manual``, ``status`` and
``previous_status`` (None when the run was just recorded), once per status a run enters.
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

logger = logging.getLogger(__name__)

schedule_changed = Signal()
run_changed = Signal()

SCHEDULE_CHANGES = ("added", "updated", "removed", "paused", "resumed")


def send_robustly(signal: Signal, name: str, sender: Any, **arguments: Any) -> None:
    """Send ``signal`` to every receiver; one that raises is logged with its traceback and the rest still run."""
    for receiver, outcome in signal.send_robust(sender=sender, **arguments):
        if isinstance(outcome, Exception):
            logger.error(
                "beat_store: a %s receiver (%r) raised %s: %s",
                name,
                receiver,
                type(outcome).__name__,
                outcome,
                exc_info=outcome,
                extra={"action": "signal_receiver_failed"},
            )
