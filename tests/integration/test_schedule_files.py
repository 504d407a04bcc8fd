"""BEAT_STORE_SCHEDULE_FILES synced into the table (issue #13): what is added, updated, left alone and removed,
what a broken file keeps, how duplicates and bad records are reported, and ``beat_store_sync``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from beat_store.api import add_schedule
from beat_store.declared import SyncReport, sync_declared_schedules
from beat_store.enums import ScheduleSource
from beat_store.models import Schedule
from beat_store.signals import schedule_changed
from tests import celery_app

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tests_celery_app_current")]

SCHEDULER_INI = """
[every-two]
call = tests.add
every = 2 minutes
x = 1
y = 2

[nightly]
call = tests.add
at = 03:30
timezone = Europe/Paris
description = Adds at night
x = 3
y = 4
"""


@pytest.fixture
def ini_file(tmp_path: Path, settings: Any) -> Path:
    path = tmp_path / "scheduler.ini"
    path.write_text(SCHEDULER_INI, encoding="utf-8")
    settings.BEAT_STORE_SCHEDULE_FILES = [str(path)]
    return path


@pytest.fixture
def changes() -> Iterator[list[tuple[str, str]]]:
    seen: list[tuple[str, str]] = []

    def receiver(schedule: Schedule, change: str, **kwargs: Any) -> None:
        seen.append((schedule.name, change))

    schedule_changed.connect(receiver, weak=False, dispatch_uid="test.schedule_files")
    yield seen
    schedule_changed.disconnect(dispatch_uid="test.schedule_files")


def sync() -> SyncReport:
    return sync_declared_schedules(celery_app.app)


def mine(synced: list[str]) -> list[str]:
    """Without Celery's own celery.backend_cleanup, which the test app's result backend makes beat declare."""
    return sorted(name for name in synced if name != "celery.backend_cleanup")


def names(source: ScheduleSource) -> list[str]:
    return list(Schedule.objects.filter(source=source).values_list("name", flat=True))


def test_a_files_schedules_are_stored_with_the_source_file_and_the_files_path(ini_file: Path) -> None:
    report = sync()

    assert mine(report.added) == ["every-two", "nightly"]
    nightly = Schedule.objects.get(name="nightly")
    assert (nightly.source, nightly.source_file) == (ScheduleSource.FILE, str(ini_file))
    assert nightly.trigger == {"type": "cron", "hour": "3", "minute": "30", "second": "0"}
    assert (nightly.timezone, nightly.description, nightly.kwargs) == (
        "Europe/Paris",
        "Adds at night",
        {"x": 3, "y": 4},
    )
    assert nightly.next_fire_at is not None


def test_an_unchanged_file_saves_nothing_on_the_next_sync(
    ini_file: Path, django_capture_on_commit_callbacks: Any, changes: list[tuple[str, str]]
) -> None:
    sync()
    before = dict(Schedule.objects.values_list("name", "updated_at"))

    with django_capture_on_commit_callbacks(execute=True):
        changes.clear()
        report = sync()

    assert (mine(report.added), mine(report.updated), report.removed) == ([], [], [])
    assert mine(report.unchanged) == ["every-two", "nightly"]
    assert dict(Schedule.objects.values_list("name", "updated_at")) == before
    assert changes == []


def test_an_edited_file_updates_its_schedules_and_removes_what_it_no_longer_declares(ini_file: Path) -> None:
    sync()
    ini_file.write_text("[every-two]\ncall = tests.add\nevery = 5 minutes\nx = 10\n", encoding="utf-8")

    report = sync()

    assert (mine(report.updated), report.removed) == (["every-two"], ["nightly"])
    every_two = Schedule.objects.get(name="every-two")
    assert (every_two.trigger["minutes"], every_two.kwargs) == (5, {"x": 10})
    assert names(ScheduleSource.FILE) == ["every-two"]


def test_a_deleted_line_goes_back_to_its_default(ini_file: Path) -> None:
    sync()
    ini_file.write_text(SCHEDULER_INI.replace("timezone = Europe/Paris\n", ""), encoding="utf-8")

    sync()

    assert Schedule.objects.get(name="nightly").timezone == "UTC"


def test_a_pause_made_in_the_admin_survives_a_sync(ini_file: Path) -> None:
    sync()
    Schedule.objects.filter(name="nightly").update(paused=True)

    report = sync()

    assert "nightly" in report.unchanged
    assert Schedule.objects.get(name="nightly").paused


def test_file_sync_removes_only_rows_whose_source_is_file(ini_file: Path, settings: Any) -> None:
    settings.BEAT_STORE_SCHEDULES = {
        "from-settings": {"task": "tests.add", "trigger": {"type": "interval", "hours": 1}}
    }
    add_schedule("from-admin", "tests.add", {"type": "interval", "hours": 1}, source=ScheduleSource.ADMIN)
    add_schedule("imported", "tests.add", {"type": "interval", "hours": 1}, source=ScheduleSource.IMPORT)
    sync()
    ini_file.write_text("", encoding="utf-8")

    report = sync()

    assert sorted(report.removed) == ["every-two", "nightly"]
    assert sorted(Schedule.objects.exclude(name="celery.backend_cleanup").values_list("name", flat=True)) == [
        "from-admin",
        "from-settings",
        "imported",
    ]


def test_a_file_dropped_from_the_setting_takes_its_schedules_with_it(ini_file: Path, settings: Any) -> None:
    sync()
    settings.BEAT_STORE_SCHEDULE_FILES = []

    report = sync()

    assert sorted(report.removed) == ["every-two", "nightly"]
    assert names(ScheduleSource.FILE) == []


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ("[every-two\ncall = tests.add\n", "not a valid INI file"),
        ("[every-two]\nevery = 1 minute\n", "[every-two]: 'call = dotted.task.name' (or 'callback = ...') is required"),
        (None, "cannot read it: No such file or directory"),
    ],
    ids=["a syntax error", "a section without its call", "a deleted file"],
)
def test_a_file_that_cannot_be_read_keeps_every_schedule_stored_from_it(
    ini_file: Path, broken: str | None, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    sync()
    stored = dict(Schedule.objects.values_list("name", "updated_at"))
    if broken is None:
        ini_file.unlink()
    else:
        ini_file.write_text(broken, encoding="utf-8")

    with caplog.at_level(logging.ERROR, logger="beat_store.declared"):
        report = sync()

    assert report.removed == []
    assert dict(Schedule.objects.values_list("name", "updated_at")) == stored
    assert list(report.unreadable) == [str(ini_file)]
    assert f"{ini_file}: {reason}" in report.unreadable[str(ini_file)]
    assert f"schedule file not read, the schedules stored from it are kept: {ini_file}: {reason}" in caplog.text


def test_a_broken_file_keeps_its_rows_while_another_file_syncs(ini_file: Path, tmp_path: Path, settings: Any) -> None:
    other = tmp_path / "other.ini"
    other.write_text("[other]\ncall = tests.add\nevery = 1 hour\n", encoding="utf-8")
    settings.BEAT_STORE_SCHEDULE_FILES = [str(ini_file), str(other)]
    sync()
    ini_file.write_text("[every-two\n", encoding="utf-8")
    other.write_text("[other]\ncall = tests.add\nevery = 2 hours\n", encoding="utf-8")

    report = sync()

    assert (mine(report.updated), report.removed) == (["other"], [])
    assert sorted(names(ScheduleSource.FILE)) == ["every-two", "nightly", "other"]


def test_an_invalid_schedule_is_refused_naming_file_schedule_and_field_and_its_row_is_kept(
    ini_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sync()
    ini_file.write_text(SCHEDULER_INI.replace("Europe/Paris", "Europe/Atlantis"), encoding="utf-8")

    with caplog.at_level(logging.ERROR, logger="beat_store.declared"):
        report = sync()

    where = f"{ini_file}, schedule 'nightly'"
    assert list(report.file_refused) == [where]
    assert report.file_refused[where].startswith("timezone: ")
    assert "Europe/Atlantis" in report.file_refused[where]
    assert report.removed == []
    assert Schedule.objects.get(name="nightly").timezone == "Europe/Paris"
    assert f"beat_store: {where} was not synced: timezone: " in caplog.text


def test_a_name_declared_in_settings_and_in_a_file_is_synced_from_settings(ini_file: Path, settings: Any) -> None:
    settings.BEAT_STORE_SCHEDULES = {"nightly": {"task": "tests.add", "trigger": {"type": "interval", "hours": 1}}}

    report = sync()

    nightly = Schedule.objects.get(name="nightly")
    assert (nightly.source, nightly.source_file, nightly.trigger["type"]) == (ScheduleSource.SETTINGS, None, "interval")
    assert report.file_refused == {f"{ini_file}, schedule 'nightly'": "also declared in settings, which wins"}


def test_a_schedule_moved_from_a_file_to_settings_changes_source_and_stays(ini_file: Path, settings: Any) -> None:
    sync()
    ini_file.write_text(SCHEDULER_INI.split("[nightly]")[0], encoding="utf-8")
    settings.BEAT_STORE_SCHEDULES = {"nightly": {"task": "tests.add", "trigger": {"type": "interval", "hours": 1}}}

    report = sync()

    assert report.removed == []
    nightly = Schedule.objects.get(name="nightly")
    assert (nightly.source, nightly.source_file) == (ScheduleSource.SETTINGS, None)


# --- the admin -------------------------------------------------------------------------------------------------


def test_the_admin_shows_a_file_schedule_read_only_and_names_its_file(ini_file: Path, admin_client: Client) -> None:
    sync()
    nightly = Schedule.objects.get(name="nightly")

    page = admin_client.get(reverse("admin:beat_store_schedule_change", args=[nightly.pk])).content.decode()

    assert f"This schedule is declared in the schedule file {ini_file}. It is read-only here" in page
    response = admin_client.post(reverse("admin:beat_store_schedule_delete", args=[nightly.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Schedule.objects.filter(name="nightly").exists()


# --- beat_store_sync -------------------------------------------------------------------------------------------


def run_sync(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("beat_store_sync", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_sync_command_adds_and_says_so(ini_file: Path) -> None:
    out, _ = run_sync()

    assert "added: every-two\nadded: nightly\n" in out
    assert sorted(names(ScheduleSource.FILE)) == ["every-two", "nightly"]


def test_a_dry_run_lists_what_would_change_and_writes_nothing(ini_file: Path) -> None:
    run_sync()
    ini_file.write_text(
        SCHEDULER_INI.split("[nightly]")[0].replace("2 minutes", "3 minutes")
        + "[new]\ncall = tests.add\nevery = 1 hour\n",
        encoding="utf-8",
    )
    stored = dict(Schedule.objects.values_list("name", "updated_at"))

    out, _ = run_sync("--dry-run")

    assert "would be added: new\nwould be updated: every-two\nwould be removed: nightly\n" in out
    assert "Dry run, nothing written: 1 added, 1 updated, 1 removed" in out
    assert dict(Schedule.objects.values_list("name", "updated_at")) == stored


def test_the_sync_command_fails_with_the_files_error_and_keeps_its_schedules(ini_file: Path) -> None:
    run_sync()
    ini_file.write_text("[every-two]\ncall = tests.add\nevery = 3 fortnights\n", encoding="utf-8")

    err = StringIO()
    with pytest.raises(CommandError, match="1 declaration"):
        call_command("beat_store_sync", stdout=StringIO(), stderr=err)

    assert f"error: {ini_file}: [every-two]" in err.getvalue()
    assert "fortnights" in err.getvalue()
    assert sorted(names(ScheduleSource.FILE)) == ["every-two", "nightly"]


def test_the_sync_command_exits_non_zero_on_the_command_line(ini_file: Path) -> None:
    ini_file.write_text("[bad]\ncall = tests.add\n", encoding="utf-8")

    with pytest.raises(SystemExit) as exit_info:
        _run_from_argv()

    assert exit_info.value.code == 1


def _run_from_argv() -> None:
    from beat_store.management.commands.beat_store_sync import Command

    Command(stdout=StringIO(), stderr=StringIO()).run_from_argv(["manage.py", "beat_store_sync"])


# --- per-app declarations through Celery's add_periodic_task ----------------------------------------------------


def per_app_celery() -> Celery:
    app = Celery("per_app", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    return app


def test_add_periodic_task_in_an_on_after_configure_handler_is_synced_as_a_settings_schedule() -> None:
    app = per_app_celery()

    # Connected where the app is created, before its conf is read (the only place on_after_configure is in time).
    @app.on_after_configure.connect
    def setup_periodic_tasks(sender: Celery, **kwargs: Any) -> None:
        sender.add_periodic_task(30.0, sender.signature("tests.add", args=(2, 3)), name="per-app add")

    report = sync_declared_schedules(app)

    assert "per-app add" in report.added
    row = Schedule.objects.get(name="per-app add")
    assert (row.source, row.task, row.args, row.trigger["seconds"]) == (
        ScheduleSource.SETTINGS,
        "tests.add",
        [2, 3],
        30,
    )


def test_add_periodic_task_in_an_on_after_finalize_handler_is_synced_too() -> None:
    app = per_app_celery()
    app.conf.timezone  # noqa: B018 (the conf is read first, as it is once the project's celery module ran)

    @app.on_after_finalize.connect
    def setup_periodic_tasks(sender: Celery, **kwargs: Any) -> None:
        sender.add_periodic_task(60.0, sender.signature("tests.add", args=(1, 1)), name="finalized add")

    app.finalize()
    sync_declared_schedules(app)

    assert Schedule.objects.get(name="finalized add").source == ScheduleSource.SETTINGS


def test_an_ini_section_whose_task_is_not_registered_is_refused_and_a_blank_description_is_the_docstring(
    tmp_path: Path, settings: Any
) -> None:
    """superdjango's rules, as beat_store_import applies them: "a nonexistent callback will not make it into the
    schedule", and a job's description defaults to its callback's docstring."""
    path = tmp_path / "scheduler.ini"
    path.write_text(
        "[ghost]\ncall = tests.no_such_task\nevery = 5 minutes\n\n"
        "[documented]\ncall = tests.append_line\nevery = 5 minutes\npath = /tmp/x\ntext = y\n",
        encoding="utf-8",
    )
    settings.BEAT_STORE_SCHEDULE_FILES = [str(path)]

    report = sync()

    assert not Schedule.objects.filter(name="ghost").exists()
    assert report.file_refused == {
        f"{path}, schedule 'ghost'": "the task 'tests.no_such_task' is not registered in the Celery app; the "
        "section is left out"
    }
    assert Schedule.objects.get(name="documented").description == (
        "A side effect outside the database: tests see that the task ran when its record cannot say so."
    )
