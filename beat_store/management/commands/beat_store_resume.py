"""``manage.py beat_store_resume NAME [--from-now]``: let a paused schedule fire again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from beat_store.api import resume_schedule
from beat_store.management.base import BeatStoreCommand
from beat_store.timezones import format_moment


class Command(BeatStoreCommand):
    help = (
        "Resume the schedule NAME. Fire times missed while paused are handled by its coalesce policy, "
        "unless --from-now skips them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The schedule's name.")
        parser.add_argument(
            "--from-now",
            action="store_true",
            help="Skip the fire times missed while paused; fire from now on.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        schedule = resume_schedule(options["name"], resume_from="now" if options["from_now"] else None)
        next_fire = format_moment(schedule.next_fire_at) if schedule.next_fire_at else "none (finished)"
        self.stdout.write(f"Resumed {schedule.name}; next fire time: {next_fire}.")
