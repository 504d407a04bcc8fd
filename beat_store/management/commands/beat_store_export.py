"""``manage.py beat_store_export [--format json|yaml|supervisord|systemd] [--output FILE | --output-dir DIR] ...``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from celery.app.utils import find_app
from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from beat_store.deployment import (
    DEFAULT_NAME,
    DEFAULT_WORKER_STOP_SECONDS,
    Deployment,
    DeploymentError,
    derive_app,
    derive_directory,
    render_supervisord,
    render_systemd,
    systemd_as_one_text,
)
from beat_store.exceptions import ScheduleLookupError
from beat_store.management.base import BeatStoreCommand
from beat_store.transfer.exporting import export_schedules
from beat_store.transfer.formats import TransferFormatError, detect_format, dump_document

PROCESS_FORMATS = ("supervisord", "systemd")
#: Options that only describe processes: refused with json/yaml rather than silently ignored.
PROCESS_OPTIONS = ("app", "directory", "python", "beats", "workers", "user", "log_dir", "name", "stop_timeout")


class Command(BeatStoreCommand):
    help = (
        "Write schedules (all, or the NAMEs given) as a JSON or YAML file that beat_store_import reads back: "
        "every schedule field, trigger specs as in the docs; not beat's state (next/last fire time). "
        "With --format supervisord or systemd, write instead the process definitions that run this project's "
        "beats and workers."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("names", nargs="*", metavar="NAME", help="Schedules to export (default: all).")
        parser.add_argument(
            "--format",
            choices=("json", "yaml", *PROCESS_FORMATS),
            help="Default: from --output's extension, else json.",
        )
        parser.add_argument("--output", metavar="FILE", help="Write to FILE instead of standard output.")
        parser.add_argument(
            "--output-dir",
            metavar="DIR",
            help="supervisord, systemd: write one file per program file or unit into DIR (created if needed).",
        )
        processes = parser.add_argument_group("supervisord and systemd")
        processes.add_argument(
            "--app",
            help="The Celery app (celery -A). Default: $CELERY_APP, else the settings module's top-level package.",
        )
        processes.add_argument(
            "--directory", help="Working directory. Default: the BASE_DIR setting, else manage.py's folder."
        )
        processes.add_argument("--python", help="The Python that runs celery (default: this one, sys.executable).")
        processes.add_argument("--beats", type=int, help="Beat processes (default 1; several are safe).")
        processes.add_argument("--workers", type=int, help="Worker processes (default 1).")
        processes.add_argument("--user", help="Run the processes as this user.")
        processes.add_argument("--log-dir", help="Write each process's output to files in this folder.")
        processes.add_argument("--name", help=f"Prefix of program and unit names (default {DEFAULT_NAME}).")
        processes.add_argument(
            "--stop-timeout",
            type=int,
            help=f"Seconds a worker has for its warm shutdown before it is killed ({DEFAULT_WORKER_STOP_SECONDS}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output, output_dir = options["output"], options["output_dir"]
        if output and output_dir:
            raise CommandError("choose --output FILE or --output-dir DIR, not both")
        if options["format"] in PROCESS_FORMATS:
            self._export_processes(options)
            return
        given = [f"--{name.replace('_', '-')}" for name in PROCESS_OPTIONS if options[name] is not None]
        if given or output_dir:
            raise CommandError(
                f"{', '.join(given or ['--output-dir'])}: only with --format supervisord or --format systemd"
            )
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
        _write(Path(output), text)

    def _export_processes(self, options: dict[str, Any]) -> None:
        fmt = options["format"]
        if options["names"]:
            raise CommandError(f"--format {fmt} writes process definitions, not schedules: give no NAME")
        if fmt == "systemd" and options["output"]:
            raise CommandError("--format systemd writes several unit files: use --output-dir DIR")
        deployment = _deployment(options)
        try:
            if fmt == "supervisord":
                text = render_supervisord(deployment)
                files = {f"{deployment.name}.conf": text}
            else:
                files = render_systemd(deployment)
                text = systemd_as_one_text(files)
        except DeploymentError as error:  # a value this format cannot write
            raise CommandError(str(error)) from error
        if options["output"]:
            _write(Path(options["output"]), text)
        elif options["output_dir"]:
            folder = Path(options["output_dir"])
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise CommandError(f"cannot create {folder}: {error.strerror}") from error
            for file_name, content in files.items():
                _write(folder / file_name, content)
                self.stdout.write(f"wrote {folder / file_name}")
        else:
            self.stdout.write(text, ending="")


def _deployment(options: dict[str, Any]) -> Deployment:
    """The Deployment of the current project: options first, then what the running process tells."""
    try:
        app = derive_app(options["app"], os.environ)
        directory = os.path.abspath(
            derive_directory(options["directory"], getattr(settings, "BASE_DIR", None), sys.argv[0], os.getcwd())
        )
    except DeploymentError as error:
        raise CommandError(str(error)) from error
    _check_app(app, derived=not options["app"])
    environment = {}
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        environment["DJANGO_SETTINGS_MODULE"] = os.environ["DJANGO_SETTINGS_MODULE"]
    try:
        return Deployment(
            app=app,
            directory=directory,
            celery=(_python(options["python"]), "-m", "celery"),
            environment=environment,
            beats=1 if options["beats"] is None else options["beats"],
            workers=1 if options["workers"] is None else options["workers"],
            user=options["user"],
            log_dir=options["log_dir"] and os.path.abspath(options["log_dir"]),
            name=options["name"] or DEFAULT_NAME,
            worker_stop_seconds=(
                DEFAULT_WORKER_STOP_SECONDS if options["stop_timeout"] is None else options["stop_timeout"]
            ),
        )
    except DeploymentError as error:
        raise CommandError(str(error)) from error


def _python(given: str | None) -> str:
    """The interpreter's full path: systemd runs no bare command name, and PATH differs under supervisord."""
    if not given:
        # Normalised ("proj/../.venv/bin/python" when started so), not resolved: a virtualenv's python is a
        # symlink to the base interpreter, which would run without the virtualenv's packages.
        return os.path.normpath(os.path.abspath(sys.executable))
    found = given if os.path.isabs(given) else shutil.which(given)
    if found is None:
        raise CommandError(f"--python {given!r}: no such program in PATH; give its full path")
    return os.path.abspath(found)


def _check_app(app: str, *, derived: bool) -> None:
    """A definition naming an app Celery cannot find would restart in a loop: refuse it now, as celery -A would."""
    try:
        find_app(app)
    except Exception as error:  # whatever importing the project's module raises
        how = "derived from the settings module (or $CELERY_APP)" if derived else "given"
        raise CommandError(
            f"no Celery app found at {app!r} ({how}): {type(error).__name__}: {error}. Pass --app, e.g. --app proj "
            "or --app proj.celery:app"
        ) from error


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}") from error
