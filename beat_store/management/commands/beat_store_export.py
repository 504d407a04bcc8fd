"""``manage.py beat_store_export [--format json|yaml] [--output FILE] [NAME ...]``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from beat_store.exceptions import ScheduleLookupError
from beat_store.management.base import BeatStoreCommand
from beat_store.transfer.exporting import export_schedules
from beat_store.transfer.formats import TransferFormatError, detect_format, dump_document


class Command(BeatStoreCommand):
    help = (
        "Write schedules (all, or the NAMEs given) as a JSON or YAML file that beat_store_import reads back: "
        "every schedule field, trigger specs as in the docs; not beat's state (next/last fire time)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="Schedules to export (default: all).")
        parser.add_argument("--format", choices=("json", "yaml"), help="Default: from --output's extension, else json.")
        parser.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output.")

    def handle(self, *args: Any, **options: Any) -> None:
        output = options["output"]
        try:
            fmt = options["format"] or (detect_format(output) if output else "json")
            if fmt not in ("json", "yaml"):
                raise TransferFormatError(f"cannot export to {fmt!r}; choose json or yaml with --format")
            text = dump_document(export_schedules(options["names"]), fmt)
        except (ScheduleLookupError, TransferFormatError) as error:
            raise CommandError(str(error)) from error
        if not output:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"cannot write {output}: {error.strerror}") from error
