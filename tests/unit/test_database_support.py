"""Which databases and versions beat_store accepts (issue #16): the check E004 and beat's start-up."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from beat_store import checks
from beat_store.db.support import UnsupportedDatabase, ensure_supported, unsupported_reason
from beat_store.scheduler import Scheduler


def fake_connection(vendor: str, version: tuple[int, ...] = (), *, mariadb: bool = False) -> Any:
    return SimpleNamespace(
        vendor=vendor,
        mysql_version=version,
        mysql_is_mariadb=mariadb,
        settings_dict={"ENGINE": f"django.db.backends.{vendor}"},
    )


@pytest.mark.parametrize(
    ("connection", "supported"),
    [
        (fake_connection("postgresql"), True),
        (fake_connection("sqlite"), True),
        (fake_connection("mysql", (10, 6, 0), mariadb=True), True),
        (fake_connection("mysql", (11, 4, 2), mariadb=True), True),
        (fake_connection("mysql", (8, 0, 36)), True),
        (fake_connection("mysql", (10, 5, 23), mariadb=True), False),
        (fake_connection("mysql", (5, 7, 44)), False),
        (fake_connection("oracle"), False),
    ],
    ids=["postgresql", "sqlite", "mariadb-10.6", "mariadb-11.4", "mysql-8.0", "mariadb-10.5", "mysql-5.7", "oracle"],
)
def test_supported_databases_and_versions(connection: Any, supported: bool) -> None:
    assert (unsupported_reason(connection) is None) is supported


def test_the_refusal_names_the_version_found_and_the_versions_supported() -> None:
    with pytest.raises(UnsupportedDatabase) as refused:
        ensure_supported(fake_connection("mysql", (5, 7, 44)))

    assert "MySQL 5.7.44 is too old" in str(refused.value)
    assert "MariaDB >= 10.6 or MySQL >= 8.0" in str(refused.value)


def test_an_unsupported_database_is_the_system_check_error_e004() -> None:
    old_mariadb = fake_connection("mysql", (10, 5, 23), mariadb=True)
    with mock.patch.object(checks, "connections", {"default": old_mariadb}):
        messages = checks.check_database_supported(None)

    assert [message.id for message in messages] == ["beat_store.E004"]
    assert "MariaDB 10.5.23" in messages[0].msg
    assert "MariaDB >= 10.6" in (messages[0].hint or "")


def test_beat_stops_at_start_with_one_line_on_an_unsupported_database() -> None:
    scheduler = Scheduler.__new__(Scheduler)  # only setup_schedule is exercised
    with (
        mock.patch("beat_store.scheduler.connection", fake_connection("oracle")),
        pytest.raises(SystemExit) as stopped,
    ):
        scheduler.setup_schedule()

    assert "'oracle' database backend" in str(stopped.value.code)
