"""The README's "Use it in your project", followed word for word in an empty directory.

The test reads the section's code blocks from README.md, so the README cannot drift from what works:

- a ``bash`` block is a list of commands, run in order with this virtualenv first on PATH; ``pip install`` lines
  are skipped (the package is installed already) and ``celery ...`` lines, the long-running worker and beat, are
  started in the background;
- a ``python`` block whose first line is ``# <path>`` creates that file, ``# <path> (add at the end)`` appends
  to it, and ``# python manage.py shell`` runs the block in ``manage.py shell``.

Only the broker changes: ``CELERY_BROKER_URL`` (read by the settings the README shows) points at a Redis database
of the test's own.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import flushed_redis
from tests.integration.processes import ROOT, wait_until

README = ROOT / "README.md"
SECTION = "## Use it in your project"
REDIS_URL = os.environ.get("BEAT_STORE_README_REDIS_URL", "redis://127.0.0.1:6379/10")
SHELL_MARKER = "# python manage.py shell"
APPEND_SUFFIX = " (add at the end)"


@dataclass(frozen=True)
class CodeBlock:
    language: str
    text: str

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0].strip()


def readme_blocks() -> list[CodeBlock]:
    """The fenced code blocks of the README's "Use it in your project" section, in order."""
    text = README.read_text()
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return [CodeBlock(language, body) for language, body in re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)]


@dataclass
class Reader:
    """Does what the README says, in ``site``, and keeps the background processes to stop them."""

    site: Path
    env: dict[str, str]
    background: list[tuple[str, subprocess.Popen[bytes]]]

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command, shell=True, cwd=self.site, env=self.env, capture_output=True, text=True, timeout=120, check=False
        )

    def follow(self, block: CodeBlock) -> None:
        if block.language == "bash":
            for line in block.text.splitlines():
                self.follow_command(line.strip())
        elif block.first_line == SHELL_MARKER:
            result = self.run(f"python manage.py shell -c {_quoted(block.text)}")
            assert result.returncode == 0, result.stderr
        else:
            self.write_file(block)

    def follow_command(self, command: str) -> None:
        if not command or command.startswith(("#", "pip install")):
            return
        if command.startswith("celery "):
            log = (self.site.parent / f"{command.split()[3]}.log").open("wb")
            process = subprocess.Popen(
                command, shell=True, cwd=self.site, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            self.background.append((command, process))
            return
        result = self.run(command)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"

    def write_file(self, block: CodeBlock) -> None:
        comment = block.first_line.removeprefix("# ")
        appending = comment.endswith(APPEND_SUFFIX)
        path = self.site / comment.removesuffix(APPEND_SUFFIX)
        body = block.text.split("\n", 1)[1]
        if appending:
            path.write_text(path.read_text() + "\n" + body)
        else:
            path.write_text(body)

    def stop(self) -> str:
        for _, process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process in self.background:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        return "\n".join(f"===== {log.name}\n{log.read_text()[-5000:]}" for log in self.site.parent.glob("*.log"))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def reader_environment() -> dict[str, str]:
    """This machine's environment without the test suite's settings, with this virtualenv first on PATH."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"} and not key.startswith(("CELERY_", "BEAT_STORE_"))
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CELERY_BROKER_URL"] = REDIS_URL
    return env


@pytest.fixture
def reader(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Reader]:
    site = tmp_path / "site"
    site.mkdir()
    reader = Reader(site=site, env=reader_environment(), background=[])
    with flushed_redis(REDIS_URL):
        yield reader
        logs = reader.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        print(logs)


def statuses(database: Path, schedule_name: str, *, manual: bool) -> list[str]:
    with sqlite3.connect(database, timeout=20) as connection:
        rows = connection.execute(
            "SELECT status FROM beat_store_execution WHERE schedule_name = ? AND manual = ?",
            (schedule_name, manual),
        ).fetchall()
    return [status for (status,) in rows]


@pytest.mark.timeout(240)
def test_following_the_readme_gets_a_scheduled_run_to_succeed(reader: Reader) -> None:
    blocks = readme_blocks()

    for block in blocks:
        reader.follow(block)

    database = reader.site / "db.sqlite3"
    wait_until(
        lambda: "succeeded" in statuses(database, "report-every-10-seconds", manual=False),
        timeout=90,
        interval=1,
        message="a run of report-every-10-seconds, sent by beat, to succeed",
    )
    wait_until(
        lambda: "succeeded" in statuses(database, "nightly-report", manual=True),
        timeout=30,
        interval=1,
        message="the 'run now' of nightly-report to succeed",
    )
    checked = reader.run("python manage.py check")
    assert checked.returncode == 0, checked.stderr
    assert "System check identified no issues" in checked.stdout
    assert checked.stderr == ""
    assert [block.first_line for block in blocks if block.language == "python"] == [
        "# proj/celery.py",
        "# proj/__init__.py",
        "# proj/settings.py (add at the end)",
        "# reports/tasks.py",
        SHELL_MARKER,
        SHELL_MARKER,
    ]
