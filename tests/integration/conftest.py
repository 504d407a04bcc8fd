from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

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
