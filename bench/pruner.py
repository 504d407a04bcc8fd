"""A process that deletes expired runs back to back, as ``beat_store_prune`` or another beat's retention would,
while ``bench.run --prune-alongside`` times a herd (issue #14). Never part of the test suite.

    .venv/bin/python -m bench.pruner

Calls ``beat_store.retention.prune_batch`` (``BEAT_STORE_PRUNE_BATCH`` rows a call) without pause until it is
sent SIGTERM, then prints one JSON line: rows deleted, batches, and the median and longest batch in ms.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import time
from datetime import UTC, datetime
from types import FrameType

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")

import django

django.setup()

from beat_store import retention  # noqa: E402
from beat_store.conf import settings  # noqa: E402

stopping = False


def stop(signum: int, frame: FrameType | None) -> None:
    global stopping
    stopping = True


def main() -> None:
    signal.signal(signal.SIGTERM, stop)
    took: list[float] = []
    deleted = 0
    while not stopping:
        began = time.monotonic()
        deleted += retention.prune_batch(datetime.now(UTC), limit=settings.PRUNE_BATCH)
        took.append(time.monotonic() - began)
    summary = {
        "deleted": deleted,
        "batches": len(took),
        "batch_p50_ms": round(statistics.median(took) * 1000, 1) if took else None,
        "batch_max_ms": round(max(took) * 1000, 1) if took else None,
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
