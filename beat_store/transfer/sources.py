"""What reading another scheduler yields, shared by the django-celery-beat and redbeat readers."""

from __future__ import annotations

from dataclasses import dataclass, field

from beat_store.exceptions import BeatStoreError
from beat_store.transfer.importing import ScheduleDraft, Unsupported


class SourceUnavailable(BeatStoreError):
    """The other scheduler's store cannot be read (app not installed, Redis unreachable, ...)."""


@dataclass
class SourceReading:
    drafts: list[ScheduleDraft] = field(default_factory=list)
    #: Entries that cannot be imported exactly: they block the import unless skipped on purpose.
    unsupported: list[Unsupported] = field(default_factory=list)
    #: Entries left out by design, reported for information.
    skipped: list[Unsupported] = field(default_factory=list)
