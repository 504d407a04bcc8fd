"""``manage.py beat_store_list [--json]``: every schedule with its trigger, next fire time and last status."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from beat_store.listing import format_table, list_schedules
from beat_store.management.base import BeatStoreCommand


class Command(BeatStoreCommand):
    help = "List the schedules: name, trigger, next fire time ('paused' or 'finished') and last status."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print a JSON list instead of a table.")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = list_schedules()
        if options["json"]:
            self.stdout.write(json.dumps([row.as_json() for row in rows], indent=2))
        elif rows:
            self.stdout.write(format_table(rows))
        else:
            self.stdout.write("No schedules.")
