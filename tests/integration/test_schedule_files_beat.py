"""A schedule file as a live source with a real `celery beat` and `celery worker` (issue #13): beat syncs the INI
file at start and its schedule runs; an edit of the file, synced by ``beat_store_sync``, updates and removes."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.models import Schedule
from tests.integration.processes import CeleryProcesses, wait_for_run

pytestmark = [pytest.mark.redis, pytest.mark.timeout(180), pytest.mark.usefixtures("tests_celery_app_current")]

SCHEDULER_INI = """
[file-add]
call = tests.add
every = 2 seconds
description = Declared in a file
x = 20
y = 22

[file-nightly]
call = tests.add
at = 03:30
timezone = Europe/Paris
x = 1
y = 1
"""


def test_beat_syncs_a_schedule_file_at_start_runs_it_and_beat_store_sync_applies_edits(
    celery_processes: CeleryProcesses, tmp_path: Path, settings: Any
) -> None:
    ini_file = tmp_path / "scheduler.ini"
    ini_file.write_text(SCHEDULER_INI, encoding="utf-8")
    celery_processes.extra_environment["BEAT_STORE_TEST_SCHEDULE_FILES"] = json.dumps([str(ini_file)])
    celery_processes.start_worker()
    beat = celery_processes.start_beat()

    run = wait_for_run("file-add", ExecutionStatus.SUCCEEDED, timeout=60)

    assert beat.poll() is None
    assert run.result == "42"
    stored = {row.name: row for row in Schedule.objects.filter(source=ScheduleSource.FILE)}
    assert sorted(stored) == ["file-add", "file-nightly"]
    assert stored["file-add"].source_file == str(ini_file)
    assert stored["file-add"].description == "Declared in a file"
    assert stored["file-nightly"].timezone == "Europe/Paris"
    assert "synced 3 schedule(s) from settings and schedule files" in celery_processes.logs()

    # The file is edited while beat runs: the operator syncs it without restarting beat.
    ini_file.write_text("[file-add]\ncall = tests.add\nevery = 1 hour\nx = 1\ny = 2\n", encoding="utf-8")
    settings.BEAT_STORE_SCHEDULE_FILES = [str(ini_file)]
    out = StringIO()
    call_command("beat_store_sync", stdout=out)

    assert "updated: file-add\nremoved: file-nightly\n" in out.getvalue()
    updated = Schedule.objects.get(name="file-add")
    assert (updated.trigger["hours"], updated.kwargs, updated.description) == (1, {"x": 1, "y": 2}, "")
    assert not Schedule.objects.filter(name="file-nightly").exists()


def test_a_task_modules_add_periodic_task_is_synced_by_beat_as_a_settings_schedule_and_runs(
    celery_processes: CeleryProcesses,
) -> None:
    celery_processes.extra_environment["BEAT_STORE_TEST_PER_APP_TASKS"] = "1"
    celery_processes.start_worker()
    beat = celery_processes.start_beat()

    run = wait_for_run("per-app add", ExecutionStatus.SUCCEEDED, timeout=60)

    assert beat.poll() is None
    assert run.result == "11"
    declared = Schedule.objects.get(name="per-app add")
    assert (declared.source, declared.task, declared.args) == (ScheduleSource.SETTINGS, "tests.add", [5, 6])
    # Connected from a task module, on_after_configure comes too late under beat: Celery has already read its conf.
    assert not Schedule.objects.filter(name="per-app too late").exists()
