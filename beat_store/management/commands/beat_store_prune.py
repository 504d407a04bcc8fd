"""``manage.py beat_store_prune --older-than 7d``: delete execution history older than an age."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from beat_store.management.base import BeatStoreCommand
from beat_store.pruning import parse_age, prune_executions


class Command(BeatStoreCommand):
    help = (
        "Delete executions whose fire time is older than the given age (open runs are kept). "
        "Ages: a whole number and a unit, w/d/h/m, e.g. 7d, 12h, 30m."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            required=True,
            metavar="AGE",
            help="Delete executions fired more than AGE ago, e.g. 7d, 12h, 30m or 2w.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            age = parse_age(options["older_than"])
        except ValueError as error:
            raise CommandError(f"--older-than: {error}") from None
        deleted = prune_executions(age, now=timezone.now())
        self.stdout.write(f"Deleted {deleted} execution(s) older than {options['older_than'].strip()}.")
