"""System checks, with settings overridden and the database replaced by fakes."""

from __future__ import annotations

import os
from pathlib import Path
from unittest import mock

import pytest
from django.test import override_settings

from beat_store import checks


@pytest.mark.parametrize(
    ("use_tz", "ids"),
    [(True, []), (False, ["beat_store.E001"])],
    ids=["USE_TZ on passes", "USE_TZ off is an error"],
)
def test_use_tz_check(use_tz: bool, ids: list[str]) -> None:
    with override_settings(USE_TZ=use_tz):
        assert [message.id for message in checks.check_use_tz(None)] == ids


@pytest.mark.parametrize(
    ("scheduler", "installed", "ids"),
    [
        ("beat_store.Scheduler", False, ["beat_store.E002"]),
        ("beat_store.Scheduler", True, []),
        ("celery.beat:PersistentScheduler", False, []),
    ],
    ids=[
        "beat_store as scheduler without the app is an error",
        "beat_store as scheduler with the app passes",
        "another scheduler without the app passes",
    ],
)
def test_installed_when_used_check(scheduler: str, installed: bool, ids: list[str]) -> None:
    with (
        override_settings(CELERY_BEAT_SCHEDULER=scheduler),
        mock.patch("django.apps.apps.is_installed", return_value=installed),
    ):
        assert [message.id for message in checks.check_installed_when_used(None)] == ids


@pytest.mark.parametrize(
    ("celery_zone", "django_zone", "ids"),
    [("Europe/Paris", "Europe/Paris", []), ("UTC", "Europe/Paris", ["beat_store.W001"])],
    ids=["agreeing zones pass", "disagreeing zones warn"],
)
def test_time_zones_agree_check(celery_zone: str, django_zone: str, ids: list[str]) -> None:
    with override_settings(CELERY_TIMEZONE=celery_zone, TIME_ZONE=django_zone):
        assert [message.id for message in checks.check_time_zones_agree(None)] == ids


def test_unknown_tasks_warn_naming_them() -> None:
    with (
        mock.patch.object(checks, "scheduled_task_names", return_value={"tests.add", "proj.gone", "proj.typo"}),
        mock.patch.object(checks, "known_task_names", return_value={"t.add"}),
    ):
        (message,) = checks.check_tasks_known(None)

    assert message.id == "beat_store.W002"
    assert "proj.gone, proj.typo" in message.msg


def test_unknown_tasks_are_allowed_when_the_setting_says_so() -> None:
    with (
        override_settings(BEAT_STORE_ALLOW_UNREGISTERED_TASKS=True),
        mock.patch.object(checks, "scheduled_task_names", return_value={"proj.gone"}),
        mock.patch.object(checks, "known_task_names", return_value=set()),
    ):
        assert checks.check_tasks_known(None) == []


def test_task_check_skips_when_the_schedule_table_is_unreadable() -> None:
    from django.db import OperationalError

    with mock.patch("beat_store.models.Schedule.objects") as manager:
        manager.values_list.side_effect = OperationalError("no such table: beat_store_schedule")

        assert checks.scheduled_task_names() == set()


@pytest.mark.parametrize(
    ("connected", "ids"),
    [(True, []), (False, ["beat_store.W003"])],
    ids=["connected receivers pass", "unconnected receivers warn"],
)
def test_receivers_connected_check(connected: bool, ids: list[str]) -> None:
    with mock.patch("beat_store.receivers.is_connected", return_value=connected):
        assert [message.id for message in checks.check_receivers_connected(None)] == ids


@pytest.mark.parametrize(
    ("value", "vendor", "ids"),
    [
        (None, "sqlite", []),
        ("redis://127.0.0.1:6379/0", "sqlite", []),
        ("postgres", "postgresql", []),
        ("postgres", "sqlite", ["beat_store.E003"]),
        ("amqp://guest@localhost//", "postgresql", ["beat_store.E003"]),
    ],
    ids=[
        "unset: polling only",
        "a Redis URL works with any database",
        "postgres on PostgreSQL",
        "postgres on SQLite is an error",
        "another URL is an error",
    ],
)
def test_wakeups_check(value: str | None, vendor: str, ids: list[str]) -> None:
    with (
        override_settings(BEAT_STORE_WAKEUPS=value),
        mock.patch("django.db.connection.vendor", vendor),
    ):
        messages = checks.check_wakeups(None)

    assert [message.id for message in messages] == ids
    if ids:
        assert "BEAT_STORE_WAKEUPS" in messages[0].msg or "PostgreSQL" in messages[0].msg


def test_importing_task_modules_skips_celerys_django_checks_and_restores_the_environment() -> None:
    seen_during_import: list[str | None] = []
    loader = mock.Mock()
    loader.import_default_modules.side_effect = lambda: seen_during_import.append(os.environ.get("CELERY_SKIP_CHECKS"))

    with mock.patch("beat_store.checks.current_app") as app, mock.patch.dict(os.environ, clear=False):
        os.environ.pop("CELERY_SKIP_CHECKS", None)
        app.loader = loader
        app.tasks = {"proj.add": object()}

        assert checks.known_task_names() == {"proj.add"}
        assert seen_during_import == ["1"]
        assert "CELERY_SKIP_CHECKS" not in os.environ


def test_a_task_check_started_while_task_modules_import_neither_imports_them_again_nor_warns() -> None:
    nested: list[list[object]] = []
    loader = mock.Mock()
    # What a Celery fix-up that ignored CELERY_SKIP_CHECKS would do: run the checks again from the import.
    loader.import_default_modules.side_effect = lambda: nested.append(checks.check_tasks_known(None))

    with (
        mock.patch("beat_store.checks.current_app") as app,
        mock.patch.object(checks, "scheduled_task_names", return_value={"proj.add"}),
    ):
        app.loader = loader
        app.loader.worker_initialized = False
        app.tasks = {"proj.add": object()}

        assert checks.check_tasks_known(None) == []

    assert nested == [[]]
    assert loader.import_default_modules.call_count == 1


@pytest.mark.parametrize(
    ("settings_dict", "django_version", "missing"),
    [
        ({"NAME": "db.sqlite3", "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"}}, (5, 2), []),
        ({"NAME": "db.sqlite3"}, (5, 2), ['"timeout": 20', '"transaction_mode": "IMMEDIATE"']),
        ({"NAME": "db.sqlite3", "OPTIONS": {"timeout": 20}}, (5, 2), ['"transaction_mode": "IMMEDIATE"']),
        ({"NAME": "db.sqlite3", "OPTIONS": {"transaction_mode": "immediate"}}, (5, 1), ['"timeout": 20']),
        ({"NAME": "db.sqlite3", "OPTIONS": {"timeout": 20}}, (4, 2), []),
        ({"NAME": ":memory:"}, (5, 2), []),
    ],
    ids=[
        "timeout and IMMEDIATE pass",
        "no options lack both",
        "a timeout alone lacks IMMEDIATE on Django 5.1+",
        "IMMEDIATE in any case without a timeout lacks the timeout",
        "a timeout is enough before Django 5.1, which has no transaction_mode",
        "an in-memory database has one process only",
    ],
)
def test_sqlite_locking_check(
    settings_dict: dict[str, object], django_version: tuple[int, int], missing: list[str]
) -> None:
    messages = checks.sqlite_locking_warnings("default", settings_dict, django_version=django_version)

    assert [message.id for message in messages] == (["beat_store.W005"] if missing else [])
    for option in missing:
        assert option in messages[0].hint


def test_sqlite_locking_check_reads_the_configured_databases() -> None:
    from django.db import connections

    default = connections["default"]
    with (
        mock.patch.object(default, "vendor", "sqlite"),
        mock.patch.dict(default.settings_dict, {"NAME": "db.sqlite3", "OPTIONS": {}}),
    ):
        messages = checks.check_sqlite_locking(None)

    assert [message.id for message in messages] == ["beat_store.W005"]
    assert "'default'" in messages[0].msg


def test_a_listed_schedule_file_that_does_not_exist_warns_naming_its_resolved_path(tmp_path: Path) -> None:
    present = tmp_path / "present.ini"
    present.write_text("", encoding="utf-8")
    with override_settings(BASE_DIR=tmp_path, BEAT_STORE_SCHEDULE_FILES=["present.ini", "config/missing.ini"]):
        messages = checks.check_schedule_files_exist(None)

    assert [message.id for message in messages] == ["beat_store.W006"]
    assert str(tmp_path / "config" / "missing.ini") in messages[0].msg
