"""The Prometheus metrics view (#10): who may read it, and that what it says matches the tables, parsed with
prometheus-client's own parser."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from beat_store import add_schedule, pause_schedule, schedule_metrics
from beat_store.enums import ExecutionStatus as S
from beat_store.models import BeatHeartbeat, Execution, Schedule

pytestmark = pytest.mark.django_db

URL = reverse("beat_store:metrics")
HOURLY = {"type": "interval", "hours": 1}


def samples(response: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    parsed = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


def record(schedule: Schedule, status: str, *, ago: float, lateness: float | None = None, **fields: Any) -> None:
    fire_time = timezone.now() - timedelta(seconds=ago)
    started = None if lateness is None else fire_time + timedelta(seconds=lateness)
    Execution.objects.create(
        schedule=schedule,
        schedule_name=schedule.name,
        task=schedule.task,
        fire_time=fire_time,
        send_at=fire_time,
        task_id=f"{schedule.name}-{status}-{ago}",
        status=status,
        started_at=started,
        **fields,
    )


def test_the_metrics_match_the_tables(admin_client: Client, settings: Any) -> None:
    settings.BEAT_STORE_METRICS_WINDOW = 900
    job = add_schedule("job", "tests.add", HOURLY)
    add_schedule("paused", "tests.add", HOURLY)
    pause_schedule("paused")
    record(job, S.SUCCEEDED, ago=60, lateness=0.2)
    record(job, S.SUCCEEDED, ago=120, lateness=3)
    record(job, S.FAILED, ago=180, lateness=45)
    record(job, S.STARTED, ago=30, lateness=0.05)
    record(job, S.PENDING, ago=20)
    record(job, S.SUCCEEDED, ago=5 * 3600, lateness=1)  # outside the window
    BeatHeartbeat.objects.create(owner="host:1:abc", seen_at=timezone.now() - timedelta(seconds=2))
    BeatHeartbeat.objects.create(owner="host:2:dead", seen_at=timezone.now() - timedelta(hours=2))

    response = admin_client.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    values = samples(response)
    assert values[("beat_store_recent_runs", (("status", "succeeded"),))] == 2
    assert values[("beat_store_recent_runs", (("status", "failed"),))] == 1
    assert values[("beat_store_recent_runs", (("status", "missed"),))] == 0
    assert values[("beat_store_open_runs", (("status", "started"),))] == 1
    assert values[("beat_store_open_runs", (("status", "pending"),))] == 1
    assert values[("beat_store_run_lateness_seconds_bucket", (("le", "0.1"),))] == 1
    assert values[("beat_store_run_lateness_seconds_bucket", (("le", "0.25"),))] == 2
    assert values[("beat_store_run_lateness_seconds_bucket", (("le", "5.0"),))] == 3
    assert values[("beat_store_run_lateness_seconds_bucket", (("le", "+Inf"),))] == 4
    assert 19 <= values[("beat_store_oldest_pending_run_seconds", ())] < 60
    assert values[("beat_store_beats_alive", ())] == 1
    assert 1 <= values[("beat_store_beat_last_tick_seconds", (("owner", "host:1:abc"),))] < 30
    assert values[("beat_store_schedules", (("state", "active"),))] == 1
    assert values[("beat_store_schedules", (("state", "paused"),))] == 1


def test_the_series_do_not_grow_with_schedules_or_runs(admin_client: Client) -> None:
    first = len(samples(admin_client.get(URL)))
    for index in range(30):
        schedule = add_schedule(f"job-{index}", "tests.add", HOURLY)
        record(schedule, S.SUCCEEDED, ago=10, lateness=1)

    assert len(samples(admin_client.get(URL))) == first


def test_only_staff_or_the_token_may_read_the_metrics(client: Client, settings: Any) -> None:
    settings.BEAT_STORE_METRICS_TOKEN = "s3cret"

    anonymous = client.get(URL)
    wrong = client.get(URL, HTTP_AUTHORIZATION="Bearer guess")
    scraper = client.get(URL, HTTP_AUTHORIZATION="Bearer s3cret")
    client.force_login(User.objects.create_user("someone", password="x"))
    not_staff = client.get(URL)

    assert [anonymous.status_code, wrong.status_code, not_staff.status_code] == [403, 403, 403]
    assert scraper.status_code == 200
    assert "beat_store_open_runs" in scraper.content.decode()


def test_without_a_token_setting_no_bearer_is_accepted(client: Client, settings: Any) -> None:
    settings.BEAT_STORE_METRICS_TOKEN = None

    assert client.get(URL, HTTP_AUTHORIZATION="Bearer ").status_code == 403
    assert client.post(URL).status_code in (403, 405)


def test_per_schedule_series_exist_only_for_the_schedules_selected(admin_client: Client, settings: Any) -> None:
    settings.BEAT_STORE_METRICS_WINDOW = 900
    settings.BEAT_STORE_METRICS_SCHEDULES = ["nightly", "report-*"]
    nightly = add_schedule("nightly", "tests.add", HOURLY)
    report = add_schedule("report-eu", "tests.add", HOURLY)
    add_schedule("reporting", "tests.add", HOURLY)  # no '-': the glob does not match it
    add_schedule("other", "tests.add", HOURLY)
    record(nightly, S.SUCCEEDED, ago=7200, lateness=1)
    record(nightly, S.FAILED, ago=600, lateness=2.5)
    record(nightly, S.STARTED, ago=30, lateness=0.5)
    record(report, S.MISSED, ago=100)

    values = samples(admin_client.get(URL))

    per_schedule = {labels for name, labels in values if name.startswith("beat_store_schedule_")}
    assert {dict(labels)["schedule"] for labels in per_schedule} == {"nightly", "report-eu"}
    assert values[("beat_store_schedule_recent_runs", (("schedule", "nightly"), ("status", "failed")))] == 1
    assert values[("beat_store_schedule_recent_runs", (("schedule", "nightly"), ("status", "succeeded")))] == 0
    assert values[("beat_store_schedule_recent_runs", (("schedule", "report-eu"), ("status", "missed")))] == 1
    assert values[("beat_store_schedule_open_runs", (("schedule", "nightly"),))] == 1
    assert values[("beat_store_schedule_open_runs", (("schedule", "report-eu"),))] == 0
    succeeded = Execution.objects.get(schedule=nightly, status=S.SUCCEEDED).fire_time.timestamp()
    failed = Execution.objects.get(schedule=nightly, status=S.FAILED).fire_time.timestamp()
    assert values[("beat_store_schedule_last_success_timestamp_seconds", (("schedule", "nightly"),))] == succeeded
    assert ("beat_store_schedule_last_success_timestamp_seconds", (("schedule", "report-eu"),)) not in values
    assert values[("beat_store_schedule_last_finished_timestamp_seconds", (("schedule", "nightly"),))] == failed
    assert values[("beat_store_schedule_last_finished_status", (("schedule", "nightly"), ("status", "failed")))] == 1
    assert values[("beat_store_schedule_last_finished_status", (("schedule", "nightly"), ("status", "succeeded")))] == 0
    assert values[("beat_store_schedule_last_finished_status", (("schedule", "report-eu"), ("status", "missed")))] == 1
    assert values[("beat_store_schedule_last_lateness_seconds", (("schedule", "nightly"),))] == pytest.approx(0.5)
    nightly.refresh_from_db()
    assert values[("beat_store_schedule_next_fire_timestamp_seconds", (("schedule", "nightly"),))] == (
        nightly.next_fire_at.timestamp()
    )


def test_a_pattern_matching_many_schedules_is_capped(admin_client: Client, settings: Any, caplog: Any) -> None:
    settings.BEAT_STORE_METRICS_SCHEDULES = "*"
    schedule_metrics._warn_once_capped.cache_clear()
    Schedule.objects.bulk_create(
        Schedule(name=f"bulk-{index:04d}", task="tests.add", trigger=HOURLY, trigger_kind="interval")
        for index in range(schedule_metrics.MAX_SCHEDULES_WITH_SERIES + 5)
    )

    values = samples(admin_client.get(URL))
    admin_client.get(URL)

    names = {dict(labels)["schedule"] for name, labels in values if name == "beat_store_schedule_open_runs"}
    assert len(names) == schedule_metrics.MAX_SCHEDULES_WITH_SERIES
    assert "bulk-0000" in names
    assert "bulk-0204" not in names
    assert caplog.text.count("only the first 200 by name get series") == 1


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("a.b", "a.b", True),
        ("a.b", "axb", False),
        ("job-?", "job-1", True),
        ("job-?", "job-12", False),
        ("*(eu)*", "sync (eu) nightly", True),
        ("*(eu)*", "sync eu nightly", False),
        ("100%_*", "100%_done", True),
        ("Nightly*", "nightly run", False),
    ],
)
def test_glob_patterns_match_names_literally_on_every_database(pattern: str, name: str, matches: bool) -> None:
    Schedule.objects.create(name=name, task="tests.add", trigger=HOURLY, trigger_kind="interval")

    selection = schedule_metrics.selection_filter([pattern])

    assert selection is not None
    assert Schedule.objects.filter(selection).exists() is matches


def test_the_grafana_dashboard_uses_only_metrics_the_view_exports(admin_client: Client, settings: Any) -> None:
    settings.BEAT_STORE_METRICS_SCHEDULES = ["job"]
    job = add_schedule("job", "tests.add", HOURLY)
    record(job, S.SUCCEEDED, ago=10, lateness=1)
    BeatHeartbeat.objects.create(owner="host:1:abc", seen_at=timezone.now())
    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana/beat_store_dashboard.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"beat_store_\w+", target["expr"])
    }

    exported = {name for name, _ in samples(admin_client.get(URL))}

    assert used
    assert used <= exported
