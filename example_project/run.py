"""Run the example: migrate, seed, then the admin, a Celery worker and beat together.

One Ctrl-C stops all three cleanly: the terminal's SIGINT reaches this process only (the children run in
sessions of their own), which then asks each child once to stop the way it stops best (the worker's warm
shutdown lets running tasks finish). A second Ctrl-C kills what is still running. Each child's output is
printed with its name in front.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO

HERE = Path(__file__).resolve().parent
PORT = os.environ.get("EXAMPLE_PORT", "8000")
#: The threads copying the children's output: joined at the end so that no last line is lost.
COPIERS: list[threading.Thread] = []

#: How each child is asked to stop, once: SIGTERM is the worker's warm shutdown (a second SIGINT, as a terminal's
#: Ctrl-C used to deliver on top of ours, is its cold shutdown, which the threads pool cannot do); beat syncs
#: and exits on it; runserver just exits.
STOP_SIGNAL = signal.SIGTERM


def commands(python: str) -> dict[str, list[str]]:
    celery = [python, "-m", "celery", "-A", "proj"]
    return {
        "beat": [*celery, "beat", "--loglevel=INFO", "-S", "beat_store.Scheduler"],
        "worker": [*celery, "worker", "--loglevel=INFO", "--pool=threads", "--concurrency=4", "--without-mingle"],
        "admin": [python, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
    }


def prefix_lines(name: str, stream: IO[str]) -> None:
    label = f"{name:>6} | "
    for line in stream:
        sys.stdout.write(label + line)
        sys.stdout.flush()


def start(name: str, command: list[str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        command,
        cwd=HERE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    copier = threading.Thread(target=prefix_lines, args=(name, process.stdout), daemon=True)
    copier.start()
    COPIERS.append(copier)
    return process


def stop(processes: dict[str, subprocess.Popen[str]]) -> None:
    """Ask each child once to stop, wait for all; on a second Ctrl-C, kill the ones still running."""
    print("\nStopping beat, worker and admin (running tasks finish first; Ctrl-C again to force)...", flush=True)
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(STOP_SIGNAL)
    try:
        for process in processes.values():
            process.wait()
    except KeyboardInterrupt:
        print("\nForced: killing what is still running.", flush=True)
        for process in processes.values():
            if process.poll() is None:
                process.kill()
        for process in processes.values():
            process.wait()
    for copier in COPIERS:
        copier.join(5)


def raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    python = sys.executable
    for step in (["migrate", "--noinput"], ["seed_example"]):
        subprocess.run([python, "manage.py", *step], cwd=HERE, check=True)
    # Ctrl-C even when started with SIGINT ignored (in the background), and `kill <pid>`, stop as cleanly.
    signal.signal(signal.SIGINT, raise_keyboard_interrupt)
    signal.signal(signal.SIGTERM, raise_keyboard_interrupt)
    processes = {name: start(name, command) for name, command in commands(python).items()}
    print(
        f"\nAdmin: http://127.0.0.1:{PORT}/admin/  (user admin, password admin). Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop(processes)
        return 0
    failed = [name for name, process in processes.items() if process.poll() is not None]
    print(f"{', '.join(failed)} stopped; stopping the rest", file=sys.stderr, flush=True)
    stop(processes)
    return 1


if __name__ == "__main__":
    sys.exit(main())
