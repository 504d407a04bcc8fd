from __future__ import annotations

import uuid
from datetime import datetime, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from beat_store import headers

FIRE_TIME = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def test_task_id_is_the_same_for_the_same_schedule_and_fire_time_in_any_zone() -> None:
    in_paris = FIRE_TIME.astimezone(ZoneInfo("Europe/Paris"))

    assert headers.task_id_for(7, "report", FIRE_TIME) == headers.task_id_for(7, "report", in_paris)
    assert uuid.UUID(headers.task_id_for(7, "report", FIRE_TIME)).version == 5


@pytest.mark.parametrize(
    ("schedule_id", "name", "fire_time"),
    [
        (8, "report", FIRE_TIME),
        (7, "other", FIRE_TIME),
        (7, "report", FIRE_TIME.replace(second=1)),
    ],
    ids=["another row with the same name", "another name", "another fire time"],
)
def test_task_id_differs_for_another_run(schedule_id: int, name: str, fire_time: datetime) -> None:
    assert headers.task_id_for(schedule_id, name, fire_time) != headers.task_id_for(7, "report", FIRE_TIME)


def test_headers_name_schedule_execution_and_fire_time() -> None:
    stamped = headers.build(schedule_name="report", execution_id=42, fire_time=FIRE_TIME)

    assert stamped == {
        "beat_store_schedule": "report",
        "beat_store_execution": "42",
        "beat_store_fire_time": "2026-12-01T09:00:00+00:00",
    }


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (SimpleNamespace(beat_store_execution="1"), True),
        (SimpleNamespace(headers={"beat_store_execution": "1"}), True),
        (SimpleNamespace(_request_dict={"beat_store_execution": "1"}), True),
        (SimpleNamespace(headers=None), False),
        (SimpleNamespace(headers={"other": "1"}), False),
    ],
    ids=[
        "a task request with the header as attribute is ours",
        "a request with the header in headers is ours",
        "a worker request with the header in its dict is ours",
        "a request without headers is not ours",
        "a request with other headers is not ours",
    ],
)
def test_requests_are_recognised_by_their_header(request_: object, expected: bool) -> None:
    assert headers.is_beat_store_request(request_) is expected
