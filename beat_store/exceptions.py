"""Domain errors raised by beat_store's public API."""

from __future__ import annotations


class BeatStoreError(Exception):
    """Base class of every error beat_store raises on purpose."""


class InvalidTrigger(BeatStoreError, ValueError):
    """A trigger spec (or a timing field) is not valid.

    ``field`` is a dotted path into the spec (``"minute"``, ``"triggers.1.seconds"``) or ``None`` when the
    spec as a whole is wrong; ``reason`` says what is wrong in words a user can act on.
    """

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class TriggerGaveUp(BeatStoreError):
    """An ``and`` trigger found no time its members agree on within the iteration limit."""


class TriggerTooSlow(TriggerGaveUp):
    """Computing a fire time took longer than its time budget (docs/spec.md "Limits")."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(
            f"computing the next fire time took more than {seconds:g} s (the time budget): the trigger is too "
            "costly to evaluate; simplify it (an 'and' whose members rarely agree is the usual cause)"
        )


class ScheduleLookupError(BeatStoreError, LookupError):
    """No schedule has the given name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"No schedule named {name!r}")


class ScheduleExists(BeatStoreError):
    """``add_schedule(..., conflict_policy="exception")`` met a schedule of the same name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"A schedule named {name!r} already exists")
