"""Staging the messages of runs decided ahead, and releasing them at their send time: the broker side of
:mod:`beat_store.staged_runs`, through :mod:`beat_store.sending.staging`.

At the fire time only :func:`release_staged` remains: lock the due staged runs, judge them (one join and one count
query per batch), push the released ones onto their queues with one script call, record them ``sent``; all in one
transaction, so an edit of the schedule waits for it, and a beat killed at any step leaves each message either
staged (released by the next beat) or released and journalled (recorded ``sent`` by the next beat).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from celery import Celery
from django.db import DatabaseError, transaction

from beat_store import executions, staged_runs
from beat_store.enums import ExecutionStatus as S
from beat_store.runs import SendableRun, StagingOutcome
from beat_store.sending.messages import RUN_ERRORS, MessageFactory
from beat_store.sending.staging import JOURNAL_SECONDS, Released, Stage, supports

logger = logging.getLogger(__name__)


#: A staged message nobody released this long after its send time, whose run is no longer staged, is deleted.
GARBAGE_AFTER = 2 * staged_runs.HOLD

#: A release batch is this many times ``BEAT_STORE_BATCH_SIZE``: releasing a run costs far less than deciding it
#: (a share of one locking query, one count and one script call per batch), so round trips dominate.
RELEASE_BATCH_FACTOR = 4
#: Batches of due staged runs one release transaction takes (its row locks are held until all are recorded, and
#: recording them costs more than pushing them: 50,000 runs go to the broker before any of them is recorded; the
#: runs held meanwhile take about 5 MB).
BATCHES_PER_TRANSACTION = 25


def can_stage(app: Celery) -> bool | None:
    """Does this app's broker take staged messages (kombu's Redis transport)? None: the broker cannot be reached."""
    try:
        with app.producer_or_acquire() as producer:
            return supports(producer)
    except Exception as error:  # the broker is down: runs are decided at their fire time until it is back
        logger.warning("beat_store: cannot reach the broker to stage runs: %s", error, extra={"action": "stage_check"})
        return None


def stage_runs(runs: Sequence[SendableRun], *, app: Celery) -> StagingOutcome:
    """Build and stage the messages of runs just recorded ahead; say which are staged, and which cannot be built.

    Called inside the planning transaction: if it fails, nothing the database says is staged is missing (a message
    staged for a run whose transaction then rolls back is never released, and is cleaned up later).
    """
    outcome = StagingOutcome()
    try:
        with app.producer_or_acquire() as producer:
            if not supports(producer):
                return outcome
            stage = Stage(producer.channel.client)
            messages = MessageFactory(app, producer)
            pipeline = stage.pipeline()
            for run in runs:
                try:
                    built = messages.stage(run, send_at=run.send_at)
                except RUN_ERRORS as error:
                    outcome.unbuildable[run.pk] = f"{type(error).__name__}: {error}"
                    continue
                if built is None:
                    continue
                list_key, payload = built
                stage.add(
                    pipeline,
                    run.pk,
                    send_at=run.send_at,
                    deadline_at=run.deadline_at,
                    list_key=list_key,
                    payload=payload,
                )
                outcome.staged.add(run.pk)
            pipeline.execute()
            messages.flush()  # after_task_publish, for the messages now staged
    except DatabaseError:
        raise
    except Exception as error:  # broker errors vary by transport: the runs are sent the ordinary way instead
        logger.warning(
            "beat_store: could not stage %d run(s), they will be sent at their time: %s",
            len(runs),
            error,
            extra={"action": "stage_failed"},
        )
        return StagingOutcome(unbuildable=outcome.unbuildable)
    return outcome


def release_staged(*, app: Celery, now: datetime, limit: int) -> int:
    """Release staged runs whose send time has come, up to :data:`BATCHES_PER_TRANSACTION` batches of
    ``limit`` x :data:`RELEASE_BATCH_FACTOR` in one transaction (see the module); return how many were due
    (``limit`` or more: call again, more may be due).

    Every batch's messages are pushed before any run is recorded ``sent``: recording is what a worker can wait
    for, the queue is not.
    """
    edited: list[staged_runs.DueRun] = []
    releases: list[Released] = []
    batch = limit * RELEASE_BATCH_FACTOR
    due_count = 0
    names: dict[int, staged_runs.DueRun] = {}
    with_names = logger.isEnabledFor(logging.INFO)
    with transaction.atomic():
        try:
            with app.producer_or_acquire() as producer:
                stage = Stage(producer.channel.client) if supports(producer) else None
                open_counts: dict[int, int] = {}
                # One locking query for the whole transaction, streamed a batch at a time: in a herd every due run
                # has the same send time, and a query per batch would walk again past the rows earlier batches hold.
                for due in staged_runs.lock_due(
                    now, limit=batch * BATCHES_PER_TRANSACTION, chunk=batch, with_names=with_names
                ):
                    due_count += len(due)
                    if with_names:
                        names.update((run.id, run) for run in due)
                    if stage is None:
                        _hand_over([run.id for run in due], why="the broker no longer takes staged runs")
                        continue
                    verdicts = staged_runs.judge(due, open_counts=open_counts)
                    edited += _withdraw(stage, verdicts, now=now)
                    releases.append(stage.release(verdicts.release, now=now))
        except DatabaseError:
            raise
        except Exception as error:  # the broker: the transaction rolls back, the runs stay staged for the next try
            logger.error(
                "beat_store: could not release staged runs, retrying: %s", error, extra={"action": "release_failed"}
            )
            transaction.set_rollback(True)
            return 0
        for released in releases:
            _record_release(released, now=now)
    for released in releases:
        _log_released(released, names)
        _forget_journal(app, released)
    staged_runs.decide_again(edited)
    return due_count


def _log_released(released: Released, names: dict[int, staged_runs.DueRun]) -> None:
    """The same line per run as the ordinary path (``dispatch._log_sent``), so logs read the same either way."""
    if not logger.isEnabledFor(logging.INFO):
        return  # a herd is thousands of runs: skip even formatting the arguments
    for run_id in released.released:
        run = names[run_id]
        logger.info(
            "Sent run of %r for %s (task id %s), released from staging",
            run.schedule_name,
            run.fire_time.isoformat(),
            run.task_id,
            extra={"schedule_id": run.schedule_id, "action": "sent"},
        )


def _withdraw(stage: Stage, verdicts: staged_runs.Verdicts, *, now: datetime) -> list[staged_runs.DueRun]:
    """Take back the messages of runs not to be released, and record each run's fate; return the withdrawn runs
    of edited schedules (deleted here, decided again after the commit)."""
    withdrawn_ids = verdicts.withdrawn_ids()
    if not withdrawn_ids:
        return []
    outcome = stage.withdraw(withdrawn_ids)
    # Released by a beat that died before recording it: it is in its queue, so it was sent after all.
    already = set(outcome.released_before)
    if already:
        executions.mark_sent(sorted(already), at=now)
    for (status, reason), ids in verdicts.close.items():
        executions.close_unsent(
            [run_id for run_id in ids if run_id not in already], status=status, reason=reason, at=now
        )
    edited = [run for run in verdicts.edited if run.id not in already]
    staged_runs.forget([run.id for run in edited])
    return edited


def _record_release(released: Released, *, now: datetime) -> None:
    sent = [*released.released, *released.released_before]
    if sent:
        executions.mark_released(sent, at=now)
    if released.missed:
        executions.close_unsent(released.missed, status=S.MISSED, reason=staged_runs.MISSED_REASON, at=now)
    if released.absent:
        _hand_over(released.absent, why="their staged messages are gone from Redis")


def _hand_over(execution_ids: list[int], *, why: str) -> None:
    """Give staged runs to the ordinary path at once: they stay in doubt (the broker is searched for them first)."""
    logger.warning(
        "beat_store: %d staged run(s) are sent the ordinary way: %s",
        len(execution_ids),
        why,
        extra={"action": "staged_handed_over"},
    )
    executions.release_runs(execution_ids, retry_at=None)


def _forget_journal(app: Celery, released: Released) -> None:
    """Clear the journal of releases now recorded; left behind (a lost connection), they expire with the journal."""
    ids = [*released.released, *released.released_before]
    if not ids:
        return
    try:
        with app.producer_or_acquire() as producer:
            Stage(producer.channel.client).forget_released(ids)
    except Exception as error:
        logger.info("beat_store: could not clear %d release(s) from the journal: %s", len(ids), error)


def take_back_in_doubt(runs: list[SendableRun], *, app: Celery) -> tuple[list[SendableRun], set[int]]:
    """For claimed runs that were staged (none released them in time): withdraw their staged messages.

    Returns the runs to send the ordinary way (withdrawn now: not in doubt any more, or neither staged nor released:
    still in doubt) and the ids found already released (to record as sent).
    """
    staged = [run for run in runs if run.staged_at is not None]
    if not staged:
        return runs, set()
    try:
        with app.producer_or_acquire() as producer:
            if not supports(producer):
                return runs, set()
            outcome = Stage(producer.channel.client).withdraw([run.pk for run in staged])
    except Exception as error:  # the broker: they stay in doubt, and the broker's queue is searched for them
        logger.warning("beat_store: could not take back %d staged run(s): %s", len(staged), error)
        return runs, set()
    released = set(outcome.released_before)
    return [run for run in runs if run.pk not in released], released


def collect_staged_garbage(*, app: Celery, now: datetime, limit: int = 1000) -> int:
    """Delete staged messages whose run was withdrawn (an edit) and expired journal entries; return how many
    messages went."""
    try:
        with app.producer_or_acquire() as producer:
            if not supports(producer):
                return 0
            stage = Stage(producer.channel.client)
            overdue = stage.overdue(before=now - GARBAGE_AFTER, limit=limit)
            keep = staged_runs.still_staged(overdue)
            orphans = [run_id for run_id in overdue if run_id not in keep]
            stage.drop(orphans)
            stage.expire_journal(before=now - timedelta(seconds=JOURNAL_SECONDS))
    except DatabaseError:
        raise
    except Exception as error:
        logger.info("beat_store: could not clean up staged messages: %s", error)
        return 0
    return len(orphans)
