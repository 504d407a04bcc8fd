"""``manage.py beat_store_import FILE`` or ``--from django-celery-beat|redbeat``."""

from __future__ import annotations

from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from celery import current_app
from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from beat_store.checks import known_task_names
from beat_store.conf import settings
from beat_store.management.base import BeatStoreCommand
from beat_store.transfer import formats
from beat_store.transfer.django_celery_beat import read_django_celery_beat
from beat_store.transfer.importing import (
    ImportReport,
    InvalidRecord,
    ScheduleDraft,
    Unsupported,
    draft_from_record,
    import_drafts,
)
from beat_store.transfer.redbeat import read_redbeat
from beat_store.transfer.sources import SourceUnavailable
from beat_store.transfer.tasks import check_tasks

SOURCES = ("django-celery-beat", "redbeat")


def registered_tasks() -> dict[str, Any]:
    """The current Celery app's tasks, after its task modules (``imports``, autodiscovery) are loaded."""
    known_task_names()  # imports the task modules the way `manage.py check` does, guarded the same way
    return dict(current_app.tasks)


class Command(BeatStoreCommand):
    help = f"""Import schedules from FILE (json, yaml or ini) or from another Celery scheduler (--from).

Idempotent: a schedule whose fields already match is reported 'unchanged' and not written.
Transactional: on any error nothing is written. Imported schedules get the source 'import'.
The last run recorded by django-celery-beat or redbeat becomes the schedule's last fire time,
and its next fire time follows it.

FILE in JSON/YAML is what beat_store_export writes. An INI file has one section per schedule:

  [nightly-report]
  call = proj.tasks.report   (the Celery task, required)
  every = 10 minutes         (interval: number-unit pairs, seconds/minutes/hours/days/weeks)
  at = 09:30                 (alone: every day at that time; with every = N days|weeks: a calendar
                              interval at that time; with every = sunday: that weekday at that time)
  timezone = Europe/Paris    (optional)
  description = ...          (optional; default: the task's docstring, first paragraph)
  active = no                (optional; no/false/off/0: imported paused)
  any_other_key = 5          (becomes a keyword argument: True/False/None, JSON values, else text)

superdjango's scheduler.ini reads as written: 'callback' is 'call', 'frequency' is 'every'
(both spellings in one section are an error). A section whose task the Celery app does not
register is left out ('skipped: ...'); the others are imported. When the app registers no tasks
at all (no Celery app configured), nothing is left out and a warning says so.

--from django-celery-beat reads its PeriodicTask table (the app must be in INSTALLED_APPS). Interval,
crontab (with its zone) and clocked schedules are mapped; solar ones are unsupported. one_off tasks end after
their next fire time; 'expires' (a date) becomes the schedule's end; disabled tasks are imported paused.
celery.backend_cleanup is skipped: beat_store declares it itself when results need it.

--from redbeat reads the {{prefix}}:schedule sorted set and its entries' hashes (interval, crontab and
rrules with a plain FREQ/INTERVAL; other rrules are unsupported).

Unsupported entries are listed one by one and the command fails, writing nothing, unless --skip-unsupported.
Sources: {", ".join(SOURCES)}."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", metavar="FILE", help="A json, yaml or ini file of schedules.")
        parser.add_argument("--format", choices=formats.FORMATS, help="The FILE's format (default: its extension).")
        parser.add_argument("--from", dest="source", choices=SOURCES, help="Import from another scheduler.")
        parser.add_argument(
            "--redis-url", help="redbeat's Redis (default: CELERY_REDBEAT_REDIS_URL, else the broker URL)."
        )
        parser.add_argument(
            "--key-prefix", help="redbeat's key prefix (default: CELERY_REDBEAT_KEY_PREFIX or 'redbeat:')."
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what would happen; write nothing.")
        parser.add_argument(
            "--skip-unsupported",
            action="store_true",
            help="Import the rest when some entries cannot be mapped.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        drafts, unsupported, skipped = self._read_source(options)
        report = import_drafts(
            drafts,
            now=timezone.now(),
            unsupported=unsupported,
            skipped=skipped,
            skip_unsupported=options["skip_unsupported"],
            dry_run=options["dry_run"],
        )
        self._finish(report, options)

    def _read_source(self, options: dict[str, Any]) -> tuple[list[ScheduleDraft], list[Unsupported], list[Unsupported]]:
        if options["source"] and options["file"]:
            raise CommandError("give either FILE or --from, not both")
        if options["source"] == "django-celery-beat":
            return _source_call(read_django_celery_beat)
        if options["source"] == "redbeat":
            return _source_call(read_redbeat, redis_url=options["redis_url"], key_prefix=options["key_prefix"])
        if not options["file"]:
            raise CommandError("name a FILE to import, or a scheduler with --from (django-celery-beat, redbeat)")
        fmt, drafts = self._read_file(options["file"], options["format"])
        if fmt != "ini":
            # JSON/YAML are beat_store's own exports: their schedules are imported whole, as exported.
            return drafts, [], []
        check = check_tasks(drafts, registered_tasks(), keep_unregistered=settings.ALLOW_UNREGISTERED_TASKS)
        if check.warning:
            self.stderr.write(f"warning: {check.warning}")
        return check.kept, [], check.left_out

    def _read_file(self, path: str, fmt: str | None) -> tuple[str, list[ScheduleDraft]]:
        try:
            fmt = formats.detect_format(path, fmt)
            text = Path(path).read_text(encoding="utf-8")
            return fmt, [draft_from_record(record) for record in formats.load_records(text, fmt)]
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"cannot read {path}: not UTF-8 text ({error.reason})") from error
        except (formats.TransferFormatError, InvalidRecord) as error:
            raise CommandError(f"{path}: {error}") from error

    def _finish(self, report: ImportReport, options: dict[str, Any]) -> None:
        for line in report.lines():
            self.stdout.write(line)
        if report.errors:
            raise CommandError(f"{len(report.errors)} schedule(s) could not be imported; nothing was written.")
        if report.unsupported and not options["skip_unsupported"]:
            raise CommandError(
                f"{len(report.unsupported)} entr(y/ies) cannot be imported exactly; nothing was written. "
                "Rerun with --skip-unsupported to import the rest."
            )
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was written.")
        else:
            self.stdout.write(
                f"Imported: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.unchanged)} unchanged."
            )


def _source_call(reader: Any, **kwargs: Any) -> tuple[list[ScheduleDraft], list[Unsupported], list[Unsupported]]:
    try:
        result = reader(**kwargs)
    except SourceUnavailable as error:
        raise CommandError(str(error)) from error
    return result.drafts, result.unsupported, result.skipped
