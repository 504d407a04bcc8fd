"""Markdown table of the runs saved in bench/results/: one row per scheduler and N, "not run" where missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LABELS = {
    "beat_store": "beat_store",
    "beat_store+plan_ahead": "beat_store with `BEAT_STORE_PLAN_AHEAD` (retired)",
    "beat_store+receivers": "beat_store, publish-signal receivers connected",
    "dcb": "django-celery-beat",
    "redbeat": "celery-redbeat",
}
HEADER = (
    "| scheduler | N | start-up (s) | peak RSS (MiB) | idle CPU (s/min) | herd 50 % / 99 % / 100 % (s) "
    "| edit (s) | 1 beat: dup / miss | 3 beats: dup / miss | 3 beats: herd 100 % (s) | herd ÷ raw pipeline |"
)


def _seconds(value: Any) -> str:
    return "—" if value is None else f"{value:.2f}"


def _herd(result: dict[str, Any]) -> str:
    herd = result.get("herd_s") or {}
    parts = [_seconds(herd.get(mark)) for mark in ("p50", "p99", "p100")]
    text = " / ".join(parts)
    if herd.get("p100") is None:
        text += f" ({result.get('herd_count_at_end', 0):,} of {result['n']:,} in the window)"
    return text


def _dup_miss(result: dict[str, Any] | None) -> str:
    if result is None:
        return "not run"
    tally = result["tally"]
    # beat_store's messages carry their fire time, so runs of a later fire time are told apart; the peers' are not.
    if result.get("window_overran") and not result["scheduler"].startswith("beat_store"):
        return "n/a (window overran the next fire time)"
    text = f"{tally['duplicates']} / {tally['misses']}"
    if tally["fire_times"] != 2:
        text += f" over {tally['fire_times']} fire time(s)"
    if tally.get("duplicate_runs"):
        text += f" ({tally['duplicate_runs']} repeated runs)"
    return text


def _edit(result: dict[str, Any]) -> str:
    if not result.get("edit_made"):
        return "not measured"
    return _seconds(result.get("edit_s")) if result.get("edit_s") is not None else "not seen in run"


def _row(kind: str, n: int, one: dict[str, Any] | None, three: dict[str, Any] | None) -> str:
    if one is None:
        cells = ["not run"] * 5
    else:
        cells = [
            _seconds(one.get("startup_s")),
            f"{max(v for v in one['peak_rss_mib'] if v is not None):.0f}",
            _seconds(sum(one["idle_cpu_s_per_min"])) if one.get("idle_cpu_s_per_min") else "—",
            _herd(one),
            _edit(one),
        ]
    cells.append(_dup_miss(one))
    cells.append(_dup_miss(three))
    cells.append(_seconds((three.get("herd_s") or {}).get("p100")) if three else "not run")
    cells.append(_ratio_to_raw(one))
    return f"| {_label(kind)} | {n:,} | " + " | ".join(cells) + " |"


def _ratio_to_raw(result: dict[str, Any] | None) -> str:
    """One beat's herd (100 %) over a bare redis-py pipeline pushing the same bytes, measured right after it."""
    if result is None or not result.get("raw_pipeline_s"):
        return "—"
    herd = (result.get("herd_s") or {}).get("p100")
    if herd is None:
        return "—"
    return f"{herd / result['raw_pipeline_s']:.1f}x ({result['raw_pipeline_s']:.2f} s)"


#: Runs on MariaDB/MySQL (``BENCH_DATABASE=mysql``) are rows of their own, after PostgreSQL's.
ON_MYSQL = "@mysql"


def _label(kind: str) -> str:
    scheduler, _, database = kind.partition("@")
    return LABELS.get(scheduler, scheduler) + (" on MariaDB" if database else "")


def _order(kind: str) -> tuple[bool, int]:
    scheduler, _, database = kind.partition("@")
    return (bool(database), list(LABELS).index(scheduler) if scheduler in LABELS else len(LABELS))


def print_table(paths: list[Path]) -> None:
    runs: dict[tuple[str, int, int], dict[str, Any]] = {}
    for path in paths:
        result = json.loads(path.read_text())
        kind = result["scheduler"] + ("+receivers" if result.get("publish_receivers") else "")
        kind += ON_MYSQL if result.get("database") == "mysql" else ""
        runs[(kind, result["n"], result["beats"])] = result
    keys = sorted({(kind, n) for kind, n, _ in runs}, key=lambda key: (key[1], *_order(key[0])))
    print(HEADER)
    print("|" + "---|" * (HEADER.count("|") - 1))
    for kind, n in keys:
        print(_row(kind, n, runs.get((kind, n, 1)), runs.get((kind, n, 3))))
