"""``manage.py beat_store_run NAME``: send one run of a schedule now."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser

from beat_store.api import run_now
from beat_store.management.base import BeatStoreCommand


class Command(BeatStoreCommand):
    help = (
        "Send one run of the schedule NAME at once (max instances permitting); print the execution's "
        "status and task id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The schedule's name.")
        parser.add_argument(
            "--kwargs", help="Keyword arguments for this run only, a JSON object (default: the schedule's)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kwargs = _parse_kwargs(options["kwargs"])
        try:
            execution = run_now(options["name"], kwargs=kwargs)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(f"{execution.schedule_name}: {execution.status} (task id {execution.task_id})")


def _parse_kwargs(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, a 5,000-digit number, nesting
        raise CommandError(f"--kwargs is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        raise CommandError("--kwargs must be a JSON object, e.g. '{\"x\": 1}'")
    return value
