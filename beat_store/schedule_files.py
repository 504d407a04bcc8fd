"""Schedules declared in files (``BEAT_STORE_SCHEDULE_FILES``): a live source next to settings.

Each listed file (INI, JSON or YAML, by its extension, read by ``beat_store.transfer.formats``) is read whole at
every sync (beat's start, ``beat_store_sync``); ``beat_store.declared`` writes what it declares with the source
``file`` and removes what it no longer declares. This module only reads: it says what each file declares, which
records it refuses and why, and which files could not be read at all (their stored schedules must be kept).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from beat_store.conf import settings
from beat_store.models import Schedule
from beat_store.transfer import formats
from beat_store.transfer.exporting import RECORD_FIELDS
from beat_store.transfer.importing import InvalidRecord, ScheduleDraft, draft_from_record
from beat_store.transfer.tasks import check_tasks

#: Record fields a file may leave out and that then go back to the model's default when the line is deleted.
#: ``paused`` is not among them: a schedule paused in the admin stays paused unless its file says otherwise.
_RESET_WHEN_OMITTED = tuple(name for name in RECORD_FIELDS if name not in ("name", "task", "trigger", "paused"))


class ScheduleFileError(formats.TransferFormatError):
    """A listed file cannot be read as a whole: missing, unreadable, not UTF-8, or not parsable."""


@dataclass(frozen=True)
class FileSchedule:
    path: str
    #: ``add_schedule`` arguments: ``task``, ``trigger``, ``args``, ``kwargs`` and the other schedule fields.
    fields: dict[str, Any]


@dataclass
class FileDeclarations:
    #: Name -> the first file declaring it, and its fields.
    schedules: dict[str, FileSchedule] = field(default_factory=dict)
    #: "<file>, schedule '<name>'" -> why that record was refused (its stored row, if any, is left as it was).
    refused: dict[str, str] = field(default_factory=dict)
    #: Names refused above: their stored rows are kept.
    refused_names: set[str] = field(default_factory=set)
    #: File -> why nothing of it could be read (its stored schedules are kept, none is removed).
    unreadable: dict[str, str] = field(default_factory=dict)
    #: Files read only in part (a record without a name): none of their stored schedules is removed either.
    incomplete: set[str] = field(default_factory=set)


def resolve_path(path: str) -> Path:
    """A listed path: relative ones count from ``settings.BASE_DIR`` when the project defines it, else from the
    current directory (the one beat or the command was started in)."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    base = getattr(django_settings, "BASE_DIR", None)
    return Path(base if base is not None else Path.cwd()) / candidate


def listed_paths() -> list[Path]:
    return [resolve_path(path) for path in settings.SCHEDULE_FILES]


def read_schedule_file(path: Path) -> list[dict[str, Any]]:
    """The records of one file; ``ScheduleFileError`` naming the file (and, from the parser, the section)."""
    try:
        fmt = formats.detect_format(str(path))
        text = path.read_text(encoding="utf-8")
        return formats.load_records(text, fmt)
    except OSError as error:
        raise ScheduleFileError(f"{path}: cannot read it: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise ScheduleFileError(f"{path}: not UTF-8 text ({error.reason})") from error
    except formats.TransferFormatError as error:
        raise ScheduleFileError(f"{path}: {error}") from error


def read_schedule_files(*, taken: Collection[str] = (), tasks: Mapping[str, Any] | None = None) -> FileDeclarations:
    """What the listed files declare. A name in ``taken`` (declared in settings) or already declared by a file
    listed earlier is refused in the later file: the first declaration wins, and the refusal names both.
    ``tasks``: the Celery app's registry, for INI files' task rules (None: files are read as written)."""
    declarations = FileDeclarations()
    longest = Schedule._meta.get_field("source_file").max_length or 0
    for path in listed_paths():
        origin = str(path)
        if len(origin) > longest:
            # Its rows could not say which file they come from (the column would refuse the path).
            declarations.unreadable[origin] = f"{origin}: the path is longer than {longest} characters"
            continue
        try:
            records = read_schedule_file(path)
        except ScheduleFileError as error:
            declarations.unreadable[origin] = str(error)
            continue
        drafts = [_read_record(declarations, origin, index, record, taken) for index, record in enumerate(records, 1)]
        valid = [draft for draft in drafts if draft is not None]
        for draft in valid if tasks is None else _with_known_tasks(declarations, origin, valid, tasks):
            _declare(declarations, origin, draft)
    return declarations


def _with_known_tasks(
    declarations: FileDeclarations, origin: str, drafts: list[ScheduleDraft], tasks: Mapping[str, Any]
) -> list[ScheduleDraft]:
    """For an INI file, superdjango's rules as ``beat_store_import`` applies them: a section whose task the Celery
    app does not register is refused (its stored row kept), and one without description takes its task's
    docstring. JSON and YAML files hold beat_store's own records: taken as written."""
    if formats.detect_format(origin) != "ini":
        return drafts
    check = check_tasks(drafts, tasks, keep_unregistered=settings.ALLOW_UNREGISTERED_TASKS)
    for left_out in check.left_out:
        declarations.refused[f"{origin}, schedule {left_out.name!r}"] = left_out.reason
        declarations.refused_names.add(left_out.name)
    return check.kept


def _read_record(
    declarations: FileDeclarations, origin: str, index: int, record: dict[str, Any], taken: Collection[str]
) -> ScheduleDraft | None:
    try:
        draft = draft_from_record(record)
    except InvalidRecord as error:
        name = record.get("name")
        if not isinstance(name, str) or not name.strip():
            # No name to keep its row by: keep every row of the file rather than guess which one it was.
            declarations.incomplete.add(origin)
            declarations.refused[f"{origin}, record #{index}"] = str(error)
            return None
        declarations.refused[f"{origin}, schedule {name!r}"] = str(error).removeprefix(f"{name}: ")
        declarations.refused_names.add(name)
        return None
    if draft.name in taken:
        declarations.refused[f"{origin}, schedule {draft.name!r}"] = "also declared in settings, which wins"
        declarations.refused_names.add(draft.name)
        return None
    return draft


def _declare(declarations: FileDeclarations, origin: str, draft: ScheduleDraft) -> None:
    where = f"{origin}, schedule {draft.name!r}"
    first = declarations.schedules.get(draft.name)
    if first is not None:
        reason = "declared twice in this file" if first.path == origin else f"also declared in {first.path}"
        declarations.refused[where] = f"{reason}; the first declaration wins"
        return
    declarations.schedules[draft.name] = FileSchedule(origin, {**_defaults(), **draft.fields})


def _defaults() -> dict[str, Any]:
    # A line deleted from a file must undo what it set: the omitted fields are written with their defaults.
    return {
        name: Schedule._meta.get_field(name).get_default()  # type: ignore[union-attr]
        for name in _RESET_WHEN_OMITTED
    }
