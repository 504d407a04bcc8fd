from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from beat_store.models import Execution, Schedule
from beat_store.sending.messages import message_options

NOW = datetime(2026, 12, 1, 9, 0, 5, tzinfo=timezone.utc)
FIRE_TIME = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def unsaved_run(**schedule_fields: object) -> tuple[Schedule, Execution]:
    schedule = Schedule(
        name="report", task="proj.report", trigger={"type": "interval", "seconds": 60}, **schedule_fields
    )
    run = Execution(
        pk=42, schedule=schedule, schedule_name="report", task="proj.report", fire_time=FIRE_TIME, send_at=FIRE_TIME
    )
    return schedule, run


def test_options_carry_routing_priority_and_beat_store_headers() -> None:
    schedule, run = unsaved_run(
        queue="reports", exchange="jobs", routing_key="jobs.reports", priority=7, headers={"tenant": "acme"}
    )

    options = message_options(schedule, run, now=NOW)

    assert options == {
        "queue": "reports",
        "exchange": "jobs",
        "routing_key": "jobs.reports",
        "priority": 7,
        "headers": {
            "tenant": "acme",
            "beat_store_schedule": "report",
            "beat_store_execution": "42",
            "beat_store_fire_time": "2026-12-01T09:00:00+00:00",
        },
    }


def test_blank_routing_fields_are_left_to_celerys_task_routes() -> None:
    schedule, run = unsaved_run()

    options = message_options(schedule, run, now=NOW)

    assert set(options) == {"headers"}


@pytest.mark.parametrize(
    ("expires", "deadline", "expected"),
    [
        (30.0, None, NOW + timedelta(seconds=30)),
        (None, FIRE_TIME + timedelta(seconds=10), FIRE_TIME + timedelta(seconds=10)),
        (300.0, FIRE_TIME + timedelta(seconds=10), FIRE_TIME + timedelta(seconds=10)),
        (3.0, FIRE_TIME + timedelta(seconds=60), NOW + timedelta(seconds=3)),
    ],
    ids=[
        "expires alone counts from sending",
        "the start deadline alone becomes the expiry",
        "a deadline earlier than expires wins",
        "an expires earlier than the deadline wins",
    ],
)
def test_message_expiry_is_the_earlier_of_expires_and_the_start_deadline(
    expires: float | None, deadline: datetime | None, expected: datetime
) -> None:
    schedule, run = unsaved_run(expires=expires)
    run.deadline_at = deadline

    assert message_options(schedule, run, now=NOW)["expires"] == expected
