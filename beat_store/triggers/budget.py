"""Time budgets for fire-time computations, so that one schedule's trigger never stalls anyone else.

A valid spec can still be slow to evaluate: an ``and`` of crons that agree once in decades (``week: 53``) asks
its members thousands of times, each walking years of calendar. Wherever fire times are computed (validation,
admin previews, beat's catch-up) the work runs under a deadline; the search loops call :func:`check_budget`
and, past the deadline, raise :class:`~beat_store.exceptions.TriggerTooSlow`. Validation turns that into an
error on the field, beat pauses the schedule with it as ``last_error`` (docs/spec.md "Limits").

Budgets nest: an inner budget never extends an outer one, so beat's budget for planning one schedule bounds
all its fire-time computations together, and each of them is also bounded on its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from beat_store.exceptions import TriggerTooSlow
from beat_store.triggers.base import Trigger


@dataclass(frozen=True)
class _Budget:
    deadline: float  # time.monotonic()
    seconds: float  # as given, for the error message


_current: ContextVar[_Budget | None] = ContextVar("beat_store_trigger_budget", default=None)


@contextmanager
def time_budget(seconds: float) -> Iterator[None]:
    """Run the block's fire-time computations under a budget of ``seconds`` (within any outer budget)."""
    budget = _Budget(time.monotonic() + seconds, seconds)
    outer = _current.get()
    if outer is not None and outer.deadline <= budget.deadline:
        yield
        return
    token = _current.set(budget)
    try:
        yield
    finally:
        _current.reset(token)


def check_budget() -> None:
    """Raise ``TriggerTooSlow`` when the current budget is spent; free when no budget is set."""
    budget = _current.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TriggerTooSlow(budget.seconds)


@dataclass(frozen=True)
class TimeBudgeted:
    """A trigger whose every fire-time computation runs under a budget of ``seconds`` (see :func:`time_budget`).

    Written out rather than with ``time_budget``: beat asks for thousands of fire times in a herd."""

    trigger: Trigger
    seconds: float

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        deadline = time.monotonic() + self.seconds
        outer = _current.get()
        if outer is not None and outer.deadline <= deadline:
            return self.trigger.next_at_or_after(moment)
        token = _current.set(_Budget(deadline, self.seconds))
        try:
            return self.trigger.next_at_or_after(moment)
        finally:
            _current.reset(token)
