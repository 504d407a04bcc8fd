"""Real ``celery beat`` processes of one scheduler: start, measure (RSS, CPU) and stop them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

SCHEDULERS = {
    "beat_store": "beat_store.Scheduler",
    "dcb": "django_celery_beat.schedulers:DatabaseScheduler",
    "redbeat": "redbeat.RedBeatScheduler",
}


def start_beats(kind: str, count: int, *, log_dir: Path, tag: str) -> list[subprocess.Popen[bytes]]:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings", PYTHONPATH=str(ROOT))
    log_dir.mkdir(parents=True, exist_ok=True)
    beats = []
    for number in range(count):
        log = (log_dir / f"{tag}-beat{number}.log").open("wb")
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bench.celery_app",
            "beat",
            "-S",
            SCHEDULERS[kind],
            "--loglevel=WARNING",
            # Only Celery's default PersistentScheduler uses this file; keep it out of the tree anyway.
            f"--schedule=/tmp/bench-{tag}-beat{number}",
        ]
        beats.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    return beats


def start_pruner() -> subprocess.Popen[bytes]:
    """``bench.pruner``: expired runs deleted back to back until :func:`stop_pruner`."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "bench.pruner"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, start_new_session=True)


def stop_pruner(pruner: subprocess.Popen[bytes]) -> dict[str, object]:
    """Stop the pruner; what it deleted, in how many batches, and their median and longest time."""
    pruner.terminate()
    output, _ = pruner.communicate(timeout=60)
    lines = output.decode().strip().splitlines()
    return dict(json.loads(lines[-1])) if lines else {}


def peak_rss_mib(pid: int) -> float | None:
    """The kernel's high-water mark of the process's resident set (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except FileNotFoundError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def stop_beats(beats: list[subprocess.Popen[bytes]], *, grace: float = 10.0) -> None:
    """SIGTERM each beat's own process group, then SIGKILL what is left after ``grace`` seconds."""
    for beat in beats:
        if beat.poll() is None:
            os.killpg(beat.pid, signal.SIGTERM)
    for beat in beats:
        try:
            beat.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(beat.pid, signal.SIGKILL)
            beat.wait(timeout=5)


def start_profiler(pid: int, output: Path) -> subprocess.Popen[bytes]:
    """Sample ``pid`` with py-spy (100 Hz, idle frames left out) into collapsed stacks at ``output``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    command = ["py-spy", "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "-o", str(output)]
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), *command[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop_profiler(profiler: subprocess.Popen[bytes]) -> None:
    """py-spy writes its output when interrupted."""
    if profiler.poll() is None:
        profiler.send_signal(signal.SIGINT)
    try:
        profiler.wait(timeout=20)
    except subprocess.TimeoutExpired:
        profiler.kill()
        profiler.wait(timeout=5)
