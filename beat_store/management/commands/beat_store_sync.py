"""``manage.py beat_store_sync``: sync the declared schedules (settings and schedule files) without beat."""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.core.management.base import CommandError, CommandParser

from beat_store.checks import celery_django_checks_skipped
from beat_store.declared import SyncReport, sync_declared_schedules
from beat_store.management.base import BeatStoreCommand


class Command(BeatStoreCommand):
    help = (
        "Sync the schedules declared in settings (Celery's beat_schedule, BEAT_STORE_SCHEDULES) and in "
        "BEAT_STORE_SCHEDULE_FILES into the table, as beat does at start: declared ones are added or updated, "
        "those no longer declared are removed. A refused declaration or an unreadable file is reported and the "
        "command exits with 1; the rest is synced, and nothing stored from an unreadable file is removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="List what would be added, updated and removed; write nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        # Beat imports the task modules and finalizes the app before it syncs, so the entries their handlers add
        # (add_periodic_task in on_after_finalize) are declared: the same here.
        with celery_django_checks_skipped():
            current_app.loader.import_default_modules()
        current_app.finalize()
        report = sync_declared_schedules(current_app, dry_run=dry_run)
        self._write(report, dry_run=dry_run)
        if report.problems:
            for line in report.problems:
                self.stderr.write(f"error: {line}")
            outcome = "nothing was written (dry run)" if dry_run else "the other declarations were synced"
            raise CommandError(f"{len(report.problems)} declaration(s) or file(s) could not be synced; {outcome}.")

    def _write(self, report: SyncReport, *, dry_run: bool) -> None:
        prefix = "would be " if dry_run else ""
        for label, names in (("added", report.added), ("updated", report.updated), ("removed", report.removed)):
            for name in names:
                self.stdout.write(f"{prefix}{label}: {name}")
        summary = (
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
            f"{len(report.unchanged)} unchanged"
        )
        self.stdout.write(f"Dry run, nothing written: {summary}." if dry_run else f"Synced: {summary}.")
