"""What every beat_store management command shares."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from beat_store.exceptions import BeatStoreError


class BeatStoreCommand(BaseCommand):
    """Turns beat_store's domain errors (an unknown schedule name, ...) and a database that is unreachable or
    not migrated into a one-line error and exit code 1."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except BeatStoreError as error:
            raise CommandError(str(error)) from error
        except DatabaseError as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise CommandError(
                f"the database is not ready for beat_store ({first_line}). "
                "Check the DATABASES setting and run `manage.py migrate`."
            ) from error
