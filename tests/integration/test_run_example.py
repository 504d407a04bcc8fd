"""``scripts/run-example.sh`` as a user runs it in a terminal: one Ctrl-C stops beat, the worker and the admin.

The script runs in a process group of its own, and SIGINT goes to that whole group, as a terminal's Ctrl-C
does. The example uses its own var/ folder (SQLite and the filesystem broker) and port, and this virtualenv.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.broker import free_port
from tests.integration.processes import ROOT, wait_until

CHILD_LINE = re.compile(r"^ *(beat|worker|admin) \| ")


class Output:
    """The script's output, read as it comes."""

    def __init__(self, stream: Iterator[str]) -> None:
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self.reader.start()

    @property
    def text(self) -> str:
        return "".join(self.lines)


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds ``marker`` (an example's own var/ folder): what the script started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environment = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environment:
            found.append(int(entry.name))
    return found


@pytest.fixture
def example(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Output, str]]:
    marker = f"EXAMPLE_VAR_DIR={tmp_path / 'var'}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"} and not key.startswith(("CELERY_", "EXAMPLE_"))
    }
    env.update(
        EXAMPLE_VAR_DIR=str(tmp_path / "var"),
        EXAMPLE_PORT=str(free_port(8790, 8890)),
        BEAT_STORE_VENV=str(Path(sys.executable).parent.parent),
        BEAT_STORE_EXAMPLE_SKIP_INSTALL="1",
    )
    script = subprocess.Popen(
        ["bash", "scripts/run-example.sh"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    assert script.stdout is not None
    yield script, Output(script.stdout), marker
    for pid in processes_with(marker):
        os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(240)
def test_one_ctrl_c_stops_beat_worker_and_admin_cleanly(example: tuple[subprocess.Popen[str], Output, str]) -> None:
    script, output, marker = example
    wait_until(
        lambda: "worker | " in output.text and " ready." in output.text and "Sent run of" in output.text,
        timeout=120,
        interval=0.5,
        message="the worker to be ready and beat to send runs",
    )
    wait_until(
        lambda: re.search(r"demo\.tasks\.failing\[[^]]*\] raised", output.text) and "demo.tasks.slow" in output.text,
        timeout=60,
        interval=0.5,
        message="the failing demo task to fail and the slow one to start",
    )

    os.killpg(script.pid, signal.SIGINT)
    returncode = script.wait(90)
    output.reader.join(10)
    started = output.text.index("Ctrl-C stops everything")
    children_lines = output.lines[next(index for index, line in enumerate(output.lines) if "Admin:" in line) + 1 :]

    assert returncode == 0, output.text
    assert processes_with(marker) == []
    assert "worker: Warm shutdown" in output.text
    for trouble in ("CRITICAL", "Cold shutdown", "Exception ignored", "SystemExit", "Traceback"):
        assert trouble not in output.text[started:], output.text
    assert "raised expected: RuntimeError" in output.text  # the failing demo task: one line, no traceback
    unprefixed = [line for line in children_lines if line.strip() and not CHILD_LINE.match(line)]
    assert unprefixed == ["Stopping beat, worker and admin (running tasks finish first; Ctrl-C again to force)...\n"]
