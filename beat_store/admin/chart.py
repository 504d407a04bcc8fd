"""The run chart of a schedule page: the last runs as SVG bars, rendered on the server (no JavaScript)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from beat_store.admin.display import STATUS_COLOURS, local_time, seconds

CHART_RUNS = 50
WIDTH = 600
HEIGHT = 120
# Runs with no duration (missed, skipped, still open) still get a visible stub, so gaps in history show.
STUB_HEIGHT = 4


@dataclass(frozen=True)
class ChartRun:
    fire_time: datetime
    status: str
    duration: float | None  # seconds; None when the run never finished


def render_run_chart(runs: Sequence[ChartRun]) -> SafeString:
    """Bars oldest to newest, left to right: height = duration (scaled to the longest), colour = status.

    Each bar has a ``<title>`` tooltip with fire time, status and duration. No runs: an empty string.
    """
    if not runs:
        return mark_safe("")
    longest = max((run.duration or 0.0 for run in runs), default=0.0) or 1.0
    slot = WIDTH / max(len(runs), 1)
    bar_width = max(slot * 0.8, 1.0)
    bars = []
    for index, run in enumerate(runs):
        height = max(STUB_HEIGHT, (run.duration or 0.0) / longest * HEIGHT)
        bars.append(
            (
                f"{index * slot + (slot - bar_width) / 2:.1f}",
                f"{HEIGHT - height:.1f}",
                f"{bar_width:.1f}",
                f"{height:.1f}",
                STATUS_COLOURS.get(run.status, "#8a8a8a"),
                run.status,
                f"{local_time(run.fire_time)}: {run.status}, {seconds(run.duration)}",
            )
        )
    body = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" class="beat-store-bar" data-status="{}">'
        "<title>{}</title></rect>",
        bars,
    )
    return format_html(
        '<svg class="beat-store-chart" role="img" width="{}" height="{}" viewBox="0 0 {} {}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>'
        '<line x1="0" y1="{}" x2="{}" y2="{}" stroke="#ccc"/>{}</svg>',
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        f"Last {len(runs)} runs: bar height is the duration (longest {seconds(longest)}), colour the status",
        HEIGHT,
        WIDTH,
        HEIGHT,
        body,
    )
