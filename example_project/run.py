"""Run the example: migrate, seed, then the admin, a Celery worker and beat together (Ctrl-C stops all)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PORT = os.environ.get("EXAMPLE_PORT", "8000")


def main() -> int:
    python = sys.executable
    for step in (["migrate", "--noinput"], ["seed_example"]):
        subprocess.run([python, "manage.py", *step], cwd=HERE, check=True)
    commands = {
        "admin": [python, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"],
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "proj",
            "worker",
            "--loglevel=INFO",
            "--pool=threads",
            "--concurrency=4",
        ],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "proj",
            "beat",
            "--loglevel=INFO",
            "-S",
            "beat_store.Scheduler",
        ],
    }
    processes = {name: subprocess.Popen(command, cwd=HERE) for name, command in commands.items()}
    print(
        f"\nAdmin: http://127.0.0.1:{PORT}/admin/  (user admin, password admin). Ctrl-C stops everything.\n",
        flush=True,
    )
    try:
        while all(process.poll() is None for process in processes.values()):
            time.sleep(0.5)
        failed = [name for name, process in processes.items() if process.poll() is not None]
        print(f"{', '.join(failed)} stopped; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
