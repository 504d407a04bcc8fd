from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.celery_app import app as tests_app
from tests.conftest import require_service
from tests.integration.broker import PrivateRedis, free_port
from tests.integration.migrating import APP
from tests.integration.processes import CeleryProcesses


@pytest.fixture
def celery_processes(
    request: pytest.FixtureRequest, transactional_db: None, redis_url: str, tmp_path: Path
) -> Iterator[CeleryProcesses]:
    """Real beat/worker subprocesses against the test database and Redis; stopped before the DB is flushed."""
    processes = CeleryProcesses(log_dir=tmp_path, broker_url=redis_url)
    yield processes
    processes.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(processes.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own, on a free port: it may be killed without stopping anyone's 6379."""
    if PrivateRedis.executable() is None:
        require_service("redis-server", "the executable is not on PATH")
    server = PrivateRedis(port=free_port(), log_path=tmp_path / "redis-server.log")
    server.start()
    yield server
    server.kill()


@pytest.fixture
def celery_processes_on_private_redis(
    request: pytest.FixtureRequest, transactional_db: None, private_redis: PrivateRedis, tmp_path: Path
) -> Iterator[CeleryProcesses]:
    """Like ``celery_processes``, with the private Redis as broker; stopped before the server and the DB."""
    processes = CeleryProcesses(log_dir=tmp_path, broker_url=private_redis.url)
    yield processes
    processes.stop_all()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(processes.logs())


@pytest.fixture
def migration_executor() -> Iterator[MigrationExecutor]:
    """A migration executor for data-migration tests; the test database is migrated forwards again afterwards."""
    executor = MigrationExecutor(connection)
    leaves = executor.loader.graph.leaf_nodes(APP)
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(leaves)


@pytest.fixture
def tests_celery_app_current() -> Celery:
    """The suite's Celery app (tests.* tasks) as the current one, as a project's own app is when manage.py runs:
    commands that read ``celery.current_app`` (beat_store_sync, beat_store_import) see its tasks whatever app an
    earlier test made current."""
    tests_app.set_current()
    return tests_app
