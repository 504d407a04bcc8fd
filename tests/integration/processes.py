"""Real `celery beat` / `celery worker` subprocesses sharing the test database and a Redis broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from django.db import connection

from beat_store.models import Execution

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(probe: Callable[[], T], *, timeout: float, interval: float = 0.2, message: str = "") -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s: {message or probe}")
        time.sleep(interval)


def wait_for_run(schedule_name: str, status: str, *, timeout: float = 30) -> Execution:
    """The first run of ``schedule_name`` that reached ``status``, waiting for one."""
    return wait_until(
        lambda: Execution.objects.filter(schedule_name=schedule_name, status=status).order_by("fire_time").first(),
        timeout=timeout,
        message=f"a run of {schedule_name!r} to be {status}",
    )


def subprocess_environment(*, broker_url: str | None = None) -> dict[str, str]:
    """Environment for a child process (beat, worker, manage.py) that uses this test's database."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["PYTHONPATH"] = str(ROOT)
    if broker_url is not None:
        env["BEAT_STORE_BROKER_URL"] = broker_url
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite":
        env["BEAT_STORE_DATABASE"] = "sqlite"
        env["BEAT_STORE_SQLITE_PATH"] = name
    elif connection.vendor == "mysql":
        env["BEAT_STORE_DATABASE"] = "mysql"
        env["BEAT_STORE_MYSQL_NAME"] = name
    else:
        env["BEAT_STORE_DATABASE"] = "postgres"
        env["BEAT_STORE_PG_NAME"] = name
    return env


@dataclass
class CeleryProcesses:
    """Starts beat and worker processes; every one is stopped at teardown, and their logs kept for failures."""

    log_dir: Path
    broker_url: str
    running: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    #: Added to every process's environment (e.g. BEAT_STORE_TEST_SCHEDULES, read by tests/settings.py).
    extra_environment: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return {**subprocess_environment(broker_url=self.broker_url), **self.extra_environment}

    def start(
        self, label: str, *celery_args: str, environment: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{label}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.celery_app", *celery_args],
            cwd=ROOT,
            env={**self.environment(), **(environment or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append((label, process))
        return process

    def start_worker(
        self,
        label: str = "worker",
        *,
        concurrency: int = 2,
        extra_args: tuple[str, ...] = (),
        environment: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """A threads-pool worker; ``environment`` adds to this worker's environment alone."""
        return self.start(
            label,
            "worker",
            "--loglevel=INFO",
            "--pool=threads",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={label}@%h",
            *extra_args,
            environment=environment,
        )

    def start_beat(self, label: str = "beat") -> subprocess.Popen[bytes]:
        return self.start(
            label,
            "beat",
            "--loglevel=INFO",
            "--scheduler=beat_store.Scheduler",
            f"--schedule={self.log_dir / (label + '-unused.db')}",
            "--pidfile=",
        )

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def stop_all(self) -> None:
        for _, process in reversed(self.running):
            self.stop(process)

    def logs(self) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"===== {path.name}\n{path.read_text(errors='replace')[-6000:]}")
        return "\n".join(parts)
