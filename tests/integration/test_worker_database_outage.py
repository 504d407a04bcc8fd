"""A worker that loses its database, or whose database hangs, still runs its tasks, says so once, and catches the
records up (#14 point 6).

The worker reaches the database through a TCP proxy that the test cuts, so the database itself, beat and the
test keep running. Its result backend is disabled: the django-db backend would write the same database. On
SQLite there is no connection to cut (a file), so these run on PostgreSQL and MariaDB.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import connection

from beat_store.api import add_schedule
from beat_store.enums import ExecutionStatus as S
from beat_store.models import Execution
from tests.integration.processes import CeleryProcesses, wait_for_run, wait_until
from tests.integration.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

OUTAGE_WARNING = "beat_store: cannot record run states"
SLOW_WARNING = "beat_store: the database is slow to record run states"
RECOVERY_WARNING = "beat_store: recording run states again"


@pytest.fixture
def database_proxy() -> Iterator[TcpProxy]:
    if connection.vendor == "sqlite":
        pytest.skip("SQLite is a file: there is no connection to cut (runs on PostgreSQL and MariaDB)")
    settings = connection.settings_dict
    proxy = TcpProxy(str(settings["HOST"]), int(settings["PORT"]))
    proxy.start()
    yield proxy
    proxy.cut()


def through(proxy: TcpProxy) -> dict[str, str]:
    """The worker's environment: its database through the proxy, and no result backend."""
    port_variable = "BEAT_STORE_MYSQL_PORT" if connection.vendor == "mysql" else "BEAT_STORE_PG_PORT"
    return {port_variable: str(proxy.port), "BEAT_STORE_TEST_RESULT_BACKEND": "disabled"}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@dataclass(frozen=True)
class Trouble:
    """One way the database goes wrong for the worker, how it is mended, and what the worker log says."""

    start: Callable[[TcpProxy], None]
    mend: Callable[[TcpProxy], None]
    warning: str


TROUBLES = {
    "down (connections refused)": Trouble(TcpProxy.cut, TcpProxy.restore, OUTAGE_WARNING),
    "hung (nothing answers)": Trouble(TcpProxy.stall, TcpProxy.resume, SLOW_WARNING),
}


@pytest.mark.parametrize("trouble", TROUBLES.values(), ids=TROUBLES.keys())
def test_tasks_run_while_the_workers_database_is_in_trouble_and_their_records_catch_up(
    celery_processes: CeleryProcesses, database_proxy: TcpProxy, tmp_path: Path, trouble: Trouble
) -> None:
    ran = tmp_path / "ran.txt"
    add_schedule(
        "trouble", "tests.append_line", {"type": "interval", "seconds": 1}, args=[str(ran), "ran"], max_instances=50
    )
    worker = celery_processes.start_worker(environment=through(database_proxy))
    celery_processes.start_beat()
    wait_for_run("trouble", S.SUCCEEDED, timeout=60)

    trouble.start(database_proxy)
    started_at = time.time()
    runs_before = len(lines(ran))
    # Sent once a second: five tasks in 12 s leave no room for tasks waiting on the database.
    wait_until(lambda: len(lines(ran)) >= runs_before + 5, timeout=12, message="five tasks to run meanwhile")
    sent = Execution.objects.filter(schedule_name="trouble", sent_at__gt=datetime.fromtimestamp(started_at + 1, tz=UTC))
    unrecorded = [run.pk for run in sent if run.status == S.SENT]
    log = (celery_processes.log_dir / "worker.log").read_text()

    assert worker.poll() is None
    assert unrecorded, "runs sent meanwhile should wait in the worker, not be recorded"
    assert log.count(trouble.warning) == 1
    assert "Traceback" not in log

    trouble.mend(database_proxy)
    wait_until(
        lambda: not Execution.objects.filter(pk__in=unrecorded).exclude(status=S.SUCCEEDED).exists(),
        timeout=30,
        message="the runs sent meanwhile to be recorded succeeded",
    )
    log = (celery_processes.log_dir / "worker.log").read_text()

    assert log.count(RECOVERY_WARNING) == 1
    assert "Traceback" not in log
