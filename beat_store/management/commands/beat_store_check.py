"""``manage.py beat_store_check``: exit 1 when beat looks dead or runs go wrong (a liveness probe)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from beat_store.health import HealthThresholds, evaluate_health
from beat_store.management.base import BeatStoreCommand


class Command(BeatStoreCommand):
    help = (
        "Check that a beat ticked within --max-beat-silence seconds, that no active schedule is overdue by "
        "more than that, and that at most --max-failed runs failed, were missed or were lost among those "
        "fired in the last --window seconds. Prints the findings; exits 1 when any check fails, 0 otherwise."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--max-beat-silence", type=float, default=60.0, metavar="SECONDS")
        parser.add_argument("--max-failed", type=int, default=0, metavar="N")
        parser.add_argument("--window", type=float, default=3600.0, metavar="SECONDS")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            thresholds = HealthThresholds(
                max_beat_silence=options["max_beat_silence"],
                max_failed=options["max_failed"],
                window=options["window"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        report = evaluate_health(thresholds, now=timezone.now())
        for fact in report.facts:
            self.stdout.write(f"ok: {fact}")
        if not report.is_healthy:
            raise CommandError("\n".join(f"problem: {problem}" for problem in report.problems))
