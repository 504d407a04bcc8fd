"""What beat sends: a run read back from the database (an :class:`~beat_store.models.Execution`), or one it has
just recorded in a herd (a :class:`RecordedRun`), both seen through :class:`SendableRun`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from beat_store.models import STAGED, Schedule

__all__ = ["STAGED", "RecordedRun", "SendableRun", "StagingOutcome"]


class SendableRun(Protocol):
    """What sending a run reads of it (``dispatch`` and ``messages``)."""

    @property
    def pk(self) -> Any: ...
    @property
    def schedule(self) -> Schedule | None: ...
    @property
    def schedule_id(self) -> int | None: ...
    @property
    def schedule_name(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def fire_time(self) -> datetime: ...
    @property
    def deadline_at(self) -> datetime | None: ...
    @property
    def manual(self) -> bool: ...
    @property
    def kwargs_override(self) -> Any: ...
    @property
    def publish_attempted_at(self) -> datetime | None: ...
    @property
    def staged_at(self) -> datetime | None: ...
    @property
    def send_at(self) -> datetime: ...


@dataclass(slots=True)
class RecordedRun:
    """A scheduled run decided by a tick, as written to the execution table by ``store._insert_executions``.

    A herd records thousands of these per second; building a Django model instance for each cost more than
    deciding the run (about 8 µs against 0.2 µs), and nothing here needs one: the row is written in bulk and
    the run is sent from this object. Attribute names are the execution table's column attributes, so the bulk
    insert reads them by ``Field.attname``.
    """

    schedule: Schedule
    schedule_name: str
    task: str
    fire_time: datetime
    jitter: float
    task_id: str
    status: str
    send_at: datetime
    deadline_at: datetime | None
    finished_at: datetime | None
    result: str
    publish_attempted_at: datetime | None = None
    lease_owner: str = ""
    lease_until: datetime | None = None
    staged_at: datetime | None = None
    #: Set once the row is inserted; None when the (schedule, fire time) was recorded before.
    pk: int | None = None
    manual: bool = False
    kwargs_override: None = None
    #: The schedule's id; None once the schedule is known to be deleted (a run held ahead, see ``store``).
    schedule_id: int | None = None

    def __post_init__(self) -> None:
        if self.schedule_id is None:
            self.schedule_id = self.schedule.pk


@dataclass
class StagingOutcome:
    """What staging the messages of runs decided ahead did (``sending.staged_dispatch.stage_runs``)."""

    #: Ids of the runs whose message is staged.
    staged: set[int] = field(default_factory=set)
    #: Run id -> why its message cannot be built (its schedule row holds what no message can carry).
    unbuildable: dict[int, str] = field(default_factory=dict)
