"""Execution state transitions and the worker-signal receivers, against the real database."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from celery import signals
from celery.exceptions import Retry
from django.test import override_settings
from django.utils import timezone

from beat_store import executions, headers
from beat_store.api import add_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution
from tests.integration.records import execution_of

pytestmark = pytest.mark.django_db


def make_execution(status: str = S.SENT, **fields: object) -> Execution:
    schedule = add_schedule("job", "tests.add", {"type": "interval", "seconds": 60})
    execution = execution_of(schedule, timezone.now(), status, **fields)
    execution.save()
    return execution


class FakeTask:
    """Stands in for a Celery task as signal sender (senders must be hashable)."""

    def __init__(self, request: SimpleNamespace) -> None:
        self.request = request


def task_request(execution: Execution, **extra: object) -> SimpleNamespace:
    return SimpleNamespace(
        id=execution.task_id,
        hostname="w1@host",
        headers={headers.EXECUTION: str(execution.pk)},
        **extra,
    )


def reload(execution: Execution) -> Execution:
    return Execution.objects.get(pk=execution.pk)


def test_prerun_then_success_signals_record_started_then_succeeded() -> None:
    execution = make_execution()
    task = FakeTask(task_request(execution))

    signals.task_prerun.send(sender=task, task_id=execution.task_id, task=task, args=(), kwargs={})
    started = reload(execution)
    signals.task_success.send(sender=task, result={"rows": 3})

    done = reload(execution)
    assert started.status == S.STARTED
    assert started.worker == "w1@host"
    assert done.status == S.SUCCEEDED
    assert done.result == "{'rows': 3}"
    assert done.started_at is not None
    assert done.finished_at is not None


def test_failure_signal_records_exception_and_traceback() -> None:
    execution = make_execution(S.STARTED)
    task = FakeTask(task_request(execution))

    signals.task_failure.send(
        sender=task,
        task_id=execution.task_id,
        exception=KeyError("missing"),
        einfo=SimpleNamespace(traceback="Traceback (most recent call last):\n  ...\nKeyError: 'missing'"),
    )

    failed = reload(execution)
    assert failed.status == S.FAILED
    assert failed.exception == "KeyError: 'missing'"
    assert failed.traceback.startswith("Traceback")


def test_retry_signal_records_retrying_without_finishing_the_run() -> None:
    execution = make_execution(S.STARTED)

    signals.task_retry.send(sender=None, request=task_request(execution), reason="upstream down", einfo=None)

    retrying = reload(execution)
    assert retrying.status == S.RETRYING
    assert retrying.result == "upstream down"
    assert retrying.finished_at is None


def test_a_retry_counts_and_shows_celerys_words_and_a_later_success_clears_its_traceback() -> None:
    execution = make_execution(S.STARTED)
    retry = Retry("Retry in 2s", exc=ConnectionError("flaky upstream"), when=2)

    executions.mark_retrying(execution.task_id, reason=retry, traceback="Traceback: flaky upstream")
    retrying = reload(execution)
    executions.mark_started(execution.task_id, worker="w1@host")
    executions.mark_succeeded(execution.task_id, result="made it")
    succeeded = reload(execution)

    assert (retrying.status, retrying.retries) == (S.RETRYING, 1)
    assert retrying.result == str(retry)
    assert not retrying.result.startswith("Retry(")
    assert (succeeded.status, succeeded.result, succeeded.traceback, succeeded.retries) == (
        S.SUCCEEDED,
        "made it",
        "",
        1,
    )


def test_a_retry_report_that_loses_the_race_with_the_retried_attempts_success_changes_nothing() -> None:
    execution = make_execution(S.STARTED)

    executions.mark_succeeded(execution.task_id, result="made it", retries=1)  # the retried attempt, first
    executions.mark_retrying(execution.task_id, reason="Retry in 0s: RuntimeError('first attempt fails')")
    done = reload(execution)

    assert (done.status, done.result, done.retries, done.traceback) == (S.SUCCEEDED, "made it", 1, "")


def test_a_failure_after_retries_keeps_the_final_exception_not_the_retry_reason() -> None:
    execution = make_execution(S.STARTED)
    executions.mark_retrying(execution.task_id, reason="Retry in 2s: ConnectionError('x')")
    executions.mark_started(execution.task_id, worker="w1@host")

    executions.mark_failed(execution.task_id, exception=ConnectionError("still down"), traceback="Traceback: final")
    failed = reload(execution)

    assert (failed.status, failed.result, failed.retries) == (S.FAILED, "", 1)
    assert failed.exception == "ConnectionError: still down"
    assert failed.traceback == "Traceback: final"


@pytest.mark.parametrize(
    ("expired", "status"),
    [(True, S.MISSED), (False, S.REVOKED)],
    ids=["a run revoked because its message expired was missed", "a run revoked by hand is revoked"],
)
def test_revoked_signal_tells_expired_from_revoked(expired: bool, status: str) -> None:
    execution = make_execution()

    signals.task_revoked.send(sender=None, request=task_request(execution), terminated=False, expired=expired)

    assert reload(execution).status == status


def test_signals_of_tasks_beat_store_did_not_send_change_nothing() -> None:
    execution = make_execution()
    foreign = FakeTask(SimpleNamespace(id=execution.task_id, hostname="w", headers={}))

    signals.task_prerun.send(sender=foreign, task_id=execution.task_id, task=foreign, args=(), kwargs={})

    assert reload(execution).status == S.SENT


def test_a_late_sent_mark_never_moves_a_started_run_back() -> None:
    execution = make_execution(S.PENDING)
    executions.mark_started(execution.task_id, worker="w1@host")

    updated = executions.mark_sent([execution.pk], at=timezone.now())

    assert updated == 0
    assert reload(execution).status == S.STARTED


def test_a_run_finished_before_its_sent_mark_still_gets_a_send_time_no_later_than_its_start() -> None:
    execution = make_execution(S.PENDING, lease_owner="beat-1", lease_until=timezone.now() + timedelta(seconds=30))
    started = timezone.now()
    executions.mark_started(execution.task_id, worker="w1@host", at=started)
    executions.mark_succeeded(execution.task_id, result=5, at=started + timedelta(milliseconds=20))

    executions.mark_sent([execution.pk], at=started + timedelta(milliseconds=50))

    done = reload(execution)
    assert done.status == S.SUCCEEDED
    assert done.sent_at == started
    assert done.sent_at <= done.started_at <= done.finished_at
    assert (done.lease_owner, done.lease_until) == ("", None)


def test_a_sent_mark_keeps_the_earlier_of_its_own_time_and_the_start() -> None:
    execution = make_execution(S.PENDING)
    sent = timezone.now()
    executions.mark_started(execution.task_id, worker="w1@host", at=sent + timedelta(seconds=1))

    executions.mark_sent([execution.pk], at=sent)

    assert reload(execution).sent_at == sent


def test_a_repeated_sent_mark_keeps_the_first_send_time() -> None:
    execution = make_execution(S.PENDING)
    first = timezone.now()
    executions.mark_sent([execution.pk], at=first)
    executions.mark_started(execution.task_id, worker="w1@host")

    executions.mark_sent([execution.pk], at=first + timedelta(seconds=5))

    assert reload(execution).sent_at == first


def test_a_finished_run_ignores_a_repeated_started_signal() -> None:
    execution = make_execution(S.SUCCEEDED)

    executions.mark_started(execution.task_id, worker="w2@host")

    assert reload(execution).status == S.SUCCEEDED


@override_settings(BEAT_STORE_LOST_AFTER=60)
def test_open_runs_without_news_become_lost_after_the_configured_time() -> None:
    stale = make_execution(S.STARTED)
    Execution.objects.filter(pk=stale.pk).update(updated_at=timezone.now() - timedelta(seconds=120))

    count = executions.mark_lost(now=timezone.now())

    assert count == 1
    assert reload(stale).status == S.LOST
    assert "60" in reload(stale).result


@override_settings(BEAT_STORE_RESULT_MAX_LENGTH=20)
def test_long_results_are_cut_to_the_configured_length() -> None:
    execution = make_execution(S.STARTED)

    executions.mark_succeeded(execution.task_id, result="x" * 100)

    assert len(reload(execution).result) == 20


def test_a_pending_run_whose_schedule_was_deleted_is_revoked_not_sent() -> None:
    from beat_store.sending.dispatch import send_claimed_runs
    from tests.celery_app import app

    execution = make_execution(S.PENDING)
    Execution.objects.get(pk=execution.pk).schedule.delete()
    orphan = Execution.objects.select_related("schedule").get(pk=execution.pk)

    sent = send_claimed_runs([orphan], app=app, now=timezone.now())

    closed = reload(execution)
    assert sent == 0
    assert closed.status == S.REVOKED
    assert closed.result == "schedule deleted before the run was sent"
    assert closed.schedule_name == "job"


def test_a_run_in_doubt_already_in_redis_is_recorded_sent_without_a_second_message(redis_url: str) -> None:
    from celery import Celery

    from beat_store.sending.dispatch import send_claimed_runs
    from tests.integration.broker import read_messages

    app = Celery("in-doubt", broker=redis_url, set_as_current=False)
    execution = make_execution(S.PENDING, publish_attempted_at=timezone.now())
    stamped = headers.build(schedule_name="job", execution_id=execution.pk, fire_time=execution.fire_time)
    app.send_task("tests.add", args=[1, 2], task_id=execution.task_id, headers=stamped)  # the dead beat's message
    run = Execution.objects.select_related("schedule").get(pk=execution.pk)

    send_claimed_runs([run], app=app, now=timezone.now())

    assert reload(execution).status == S.SENT
    assert [message.task_id for message in read_messages(redis_url)] == [execution.task_id]


def test_a_run_in_doubt_missing_from_redis_is_published(redis_url: str) -> None:
    from celery import Celery

    from beat_store.sending.dispatch import send_claimed_runs
    from tests.integration.broker import read_messages

    app = Celery("in-doubt", broker=redis_url, set_as_current=False)
    execution = make_execution(S.PENDING, publish_attempted_at=timezone.now())
    run = Execution.objects.select_related("schedule").get(pk=execution.pk)

    send_claimed_runs([run], app=app, now=timezone.now())

    assert reload(execution).status == S.SENT
    assert [message.task_id for message in read_messages(redis_url)] == [execution.task_id]
