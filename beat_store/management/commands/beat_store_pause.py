"""``manage.py beat_store_pause NAME``: stop a schedule from firing."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from beat_store.api import pause_schedule
from beat_store.management.base import BeatStoreCommand


class Command(BeatStoreCommand):
    help = "Pause the schedule NAME: it stops firing until resumed (beat_store_resume)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The schedule's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        pause_schedule(options["name"])
        self.stdout.write(f"Paused {options['name']}.")
