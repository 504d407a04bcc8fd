"""Sentry Crons check-ins (#10), captured by a sentry-sdk transport of the test's own: no network."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from django.utils import timezone
from sentry_sdk.transport import Transport

from beat_store import add_schedule, executions, run_now, sentry_crons
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution

pytestmark = pytest.mark.django_db(transaction=True)


class CapturingTransport(Transport):
    """Keeps every envelope the SDK would send."""

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.envelopes: list[Any] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope)

    def check_ins(self) -> list[dict[str, Any]]:
        return [item.payload.json for envelope in self.envelopes for item in envelope.items if item.type == "check_in"]


@pytest.fixture
def sentry(settings: Any) -> Iterator[CapturingTransport]:
    settings.BEAT_STORE_SENTRY_CRONS = True
    transport = CapturingTransport()
    # No integrations: sentry-sdk's Celery integration would patch Celery for the rest of the test session (its
    # trace headers on every message), and the check-ins under test come from beat_store alone.
    sentry_sdk.init(
        dsn="https://public@sentry.invalid/1",
        transport=transport,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[],
    )
    sentry_crons.connect()
    yield transport
    sentry_crons.disconnect()
    sentry_sdk.get_client().close()


def start_and_end(name: str, *, succeed: bool) -> str:
    run = run_now(name)
    executions.mark_started(run.task_id, worker="w1")
    if succeed:
        executions.mark_succeeded(run.task_id, result=1)
    else:
        executions.mark_failed(run.task_id, exception=ValueError("boom"), traceback="...")
    return run.task_id


def test_a_run_checks_in_progress_then_ok_with_the_monitor_schedule(sentry: CapturingTransport) -> None:
    add_schedule("Nightly report", "tests.add", {"type": "cron", "expression": "0 9 * * 1-5"},
                 timezone="Europe/Paris", misfire_grace_time=90)  # fmt: skip

    task_id = start_and_end("Nightly report", succeed=True)

    started, ended = sentry.check_ins()
    assert (started["status"], ended["status"]) == ("in_progress", "ok")
    assert started["monitor_slug"] == ended["monitor_slug"] == "nightly-report"
    assert started["check_in_id"] == ended["check_in_id"] == task_id.replace("-", "")
    assert started["monitor_config"] == {
        "schedule": {"type": "crontab", "value": "0 9 * * 1-5"},
        "timezone": "Europe/Paris",
        "checkin_margin": 2,
    }


def test_a_failed_run_checks_in_an_error(sentry: CapturingTransport) -> None:
    add_schedule("hourly", "tests.add", {"type": "interval", "hours": 2})

    start_and_end("hourly", succeed=False)

    statuses = [check_in["status"] for check_in in sentry.check_ins()]
    assert statuses == ["in_progress", "error"]
    assert sentry.check_ins()[0]["monitor_config"]["schedule"] == {"type": "interval", "value": 2, "unit": "hour"}


def beat_side_outcome(kind: str) -> None:
    add_schedule("job", "tests.add", {"type": "cron", "minute": "*/5"}, max_instances=1)
    first = run_now("job")  # sent at once (the memory broker): it holds the one instance
    if kind == "skipped":
        run_now("job")
    elif kind == "lost":
        executions.mark_lost_by([first.pk], by="an operator", at=timezone.now())
    else:
        executions.mark_lost_by([first.pk], by="an operator", at=timezone.now())
        pending = Execution.objects.create(
            schedule=first.schedule,
            schedule_name="job",
            task="tests.add",
            fire_time=timezone.now(),
            send_at=timezone.now(),
            task_id="00000000-0000-4000-8000-000000000001",
        )
        executions.close_unsent([pending.pk], status=S.MISSED, reason="late", at=timezone.now())


@pytest.mark.parametrize("kind", ["missed", "skipped", "lost"])
def test_runs_beat_records_missed_skipped_or_lost_check_in_as_errors(sentry: CapturingTransport, kind: str) -> None:
    beat_side_outcome(kind)

    errors = [check_in for check_in in sentry.check_ins() if check_in["status"] == "error"]
    assert len(errors) == (2 if kind == "missed" else 1)  # missed: the lost one before it, then the missed one
    assert errors[-1]["monitor_slug"] == "job"
    assert errors[-1]["monitor_config"]["schedule"] == {"type": "crontab", "value": "*/5 * * * *"}


def test_a_trigger_sentry_cannot_express_checks_in_without_a_monitor_schedule_and_says_so_once(
    sentry: CapturingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    add_schedule("every-ten-seconds", "tests.add", {"type": "interval", "seconds": 10})

    with caplog.at_level(logging.WARNING, logger="beat_store.sentry_crons"):
        start_and_end("every-ten-seconds", succeed=True)

    assert [check_in.get("monitor_config") for check_in in sentry.check_ins()] == [None, None]
    assert caplog.text.count("Sentry Crons cannot express the trigger of 'every-ten-seconds'") == 1


def test_only_the_schedules_that_opt_in_check_in(sentry: CapturingTransport, settings: Any) -> None:
    settings.BEAT_STORE_SENTRY_CRONS = ["watched"]
    add_schedule("watched", "tests.add", {"type": "interval", "minutes": 5})
    add_schedule("ignored", "tests.add", {"type": "interval", "minutes": 5})

    start_and_end("ignored", succeed=True)
    start_and_end("watched", succeed=True)

    assert {check_in["monitor_slug"] for check_in in sentry.check_ins()} == {"watched"}
