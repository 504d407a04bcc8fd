"""BeatEngine's loop with a fake clock, store, sender and sleeper: cadences, back-off, sleep, heartbeat.

The database side is faked by plain objects that record what the engine asked for, so each rule of the loop is
checked without a database, a broker or real time passing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError
from django.test import override_settings

from beat_store.engine import (
    CLAIM_EVERY,
    LOST_CHECK_EVERY,
    MAX_ERROR_BACKOFF,
    MIN_SLEEP,
    PRUNE_AGAIN_AFTER,
    PRUNE_EVERY,
    BeatEngine,
)
from beat_store.runs import SendableRun, StagingOutcome
from beat_store.store import TickSummary
from beat_store.testing import ManualClock

START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
BATCH = 3


@dataclass
class FakeStore:
    """``due`` schedules to plan (one run each, due at once) and ``pending`` runs left for any beat."""

    clock: ManualClock
    due: int = 0
    pending: int = 0
    next_work: datetime | None = None
    #: Seconds each planned batch takes, on the fake clock.
    seconds_per_batch: float = 0.0
    failure: Exception | None = None
    calls: list[str] = field(default_factory=list)
    heartbeats: list[tuple[str, datetime]] = field(default_factory=list)
    lost_checks: list[datetime] = field(default_factory=list)
    recovered: int = 0
    #: Runs past their retention, deleted at most ``limit`` per call (each call takes ``seconds_per_prune``).
    expired: int = 0
    seconds_per_prune: float = 0.0
    prunes: list[int] = field(default_factory=list)
    #: Whether the database takes runs decided ahead; what plan_due_schedules and next_work_at were told.
    stages: bool = True
    #: The earliest staged send time the store reports.
    next_release: datetime | None = None
    prepared_until: list[datetime | None] = field(default_factory=list)
    asked_ahead: list[timedelta] = field(default_factory=list)

    def prepare(self) -> None:
        self.calls.append("prepare")

    def recover(self) -> None:
        self.recovered += 1

    def plan_new_schedules(self, now: datetime, *, limit: int) -> int:
        self.calls.append("plan_new")
        return 0

    def can_stage(self) -> bool:
        return self.stages

    def plan_due_schedules(
        self,
        now: datetime,
        *,
        limit: int,
        rng: random.Random,
        owner: str,
        prepare_until: datetime | None = None,
        stage: Callable[[Sequence[SendableRun]], StagingOutcome] | None = None,
    ) -> TickSummary:
        if self.failure is not None:
            raise self.failure
        claimed = min(limit, self.due)
        self.due -= claimed
        self.clock.advance(self.seconds_per_batch)
        self.calls.append(f"plan:{claimed}")
        self.prepared_until.append(prepare_until)
        if stage is not None:
            stage([])
        return TickSummary(claimed=claimed, recorded=claimed, ready=[f"run-{i}" for i in range(claimed)])  # type: ignore[misc]

    def claim_pending_runs(self, now: datetime, *, owner: str, limit: int) -> Sequence[SendableRun]:
        claimed = min(limit, self.pending)
        self.pending -= claimed
        self.calls.append(f"claim:{claimed}")
        return [f"pending-{i}" for i in range(claimed)]  # type: ignore[misc]

    def next_work_at(self, now: datetime, *, ahead: timedelta = timedelta(0)) -> datetime | None:
        self.asked_ahead.append(ahead)
        return self.next_work

    def next_release_at(self) -> datetime | None:
        return self.next_release

    def mark_lost(self, *, now: datetime) -> int:
        self.lost_checks.append(now)
        return 0

    def prune_history(self, now: datetime, *, limit: int) -> int:
        deleted = min(limit, self.expired)
        self.expired -= deleted
        self.clock.advance(self.seconds_per_prune)
        self.prunes.append(deleted)
        return deleted

    def record_heartbeat(self, owner: str, now: datetime) -> None:
        self.heartbeats.append((owner, now))


@dataclass
class FakeSender:
    store: FakeStore

    def send_planned(self, runs: Sequence[SendableRun], *, now: datetime) -> int:
        self.store.calls.append(f"send_planned:{len(runs)}")
        return len(runs)

    def send_claimed(self, runs: Sequence[SendableRun], *, now: datetime) -> int:
        self.store.calls.append(f"send_claimed:{len(runs)}")
        return len(runs)

    #: Whether the broker takes staged messages, and staged runs due, released at most ``limit`` per call.
    stages: bool = False
    staged_due: int = 0
    garbage_collections: int = 0

    def can_stage(self) -> bool:
        return self.stages

    def stage(self, runs: Sequence[SendableRun]) -> StagingOutcome:
        self.store.calls.append("stage")
        return StagingOutcome()

    def release_staged(self, *, now: datetime, limit: int) -> int:
        released = min(limit, self.staged_due)
        self.staged_due -= released
        self.store.calls.append(f"release:{released}")
        return released

    def collect_staged_garbage(self, *, now: datetime) -> int:
        self.garbage_collections += 1
        return 0


@dataclass
class FakeSleeper:
    slept: list[float] = field(default_factory=list)
    closed: bool = False

    def sleep(self, seconds: float) -> float:
        self.slept.append(seconds)
        return 0.0

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store(clock: ManualClock) -> FakeStore:
    return FakeStore(clock=clock)


@pytest.fixture
def sleeper() -> FakeSleeper:
    return FakeSleeper()


@pytest.fixture
def engine(store: FakeStore, clock: ManualClock, sleeper: FakeSleeper) -> Iterator[BeatEngine]:
    with override_settings(BEAT_STORE_BATCH_SIZE=BATCH, BEAT_STORE_MAX_POLL_INTERVAL=1.0):
        yield BeatEngine(sender=FakeSender(store), store=store, clock=clock, sleeper=sleeper, owner="beat-a")


def test_a_herd_is_planned_and_sent_batch_by_batch_then_pending_runs_are_claimed(
    engine: BeatEngine, store: FakeStore
) -> None:
    store.due = 7

    engine.tick()

    assert store.calls == [
        "prepare",
        "plan_new",
        "plan:3",
        "send_planned:3",
        "claim:0",  # the first batch claims too: nothing has been claimed yet this tick
        "plan:3",
        "send_planned:3",
        "plan:1",
        "send_planned:1",
        "claim:0",  # planning is done
    ]


def test_during_a_long_herd_pending_runs_are_claimed_every_claim_period(engine: BeatEngine, store: FakeStore) -> None:
    store.due, store.pending = 5 * BATCH, 1
    store.seconds_per_batch = CLAIM_EVERY / 2 + 0.01  # every second batch crosses a claim period

    engine.tick()

    claims = [call for call in store.calls if call.startswith("claim")]
    plans = [call for call in store.calls if call.startswith("plan:")]
    assert len(plans) == 6, "five full batches, then an empty one"
    assert claims == ["claim:1", "claim:0", "claim:0", "claim:0"], "after the 1st, 3rd and 5th batch, and at the end"


def test_claims_repeat_while_they_come_back_full(engine: BeatEngine, store: FakeStore) -> None:
    store.pending = 2 * BATCH + 1

    engine.tick()

    assert [call for call in store.calls if call.startswith(("claim", "send"))] == [
        "claim:3",
        "send_claimed:3",
        "claim:3",
        "send_claimed:3",
        "claim:1",
        "send_claimed:1",
    ]


def test_each_good_tick_records_a_heartbeat_with_the_engine_owner(
    engine: BeatEngine, store: FakeStore, clock: ManualClock
) -> None:
    engine.tick()
    clock.advance(1)
    engine.tick()

    assert store.heartbeats == [("beat-a", START), ("beat-a", START + timedelta(seconds=1))]


def test_lost_runs_are_looked_for_once_per_period(engine: BeatEngine, store: FakeStore, clock: ManualClock) -> None:
    for _ in range(3):
        engine.tick()
        clock.advance(LOST_CHECK_EVERY / 2)

    assert store.lost_checks == [START, START + timedelta(seconds=LOST_CHECK_EVERY)]


def test_database_errors_back_off_doubling_to_a_limit_and_a_good_tick_resets_it(
    engine: BeatEngine, store: FakeStore
) -> None:
    store.failure = OperationalError("server closed the connection")

    pauses = [engine.tick() for _ in range(7)]
    store.failure = None
    engine.tick()

    assert pauses == [1.0, 2.0, 4.0, 8.0, 16.0, MAX_ERROR_BACKOFF, MAX_ERROR_BACKOFF]
    assert store.recovered == 7, "each error drops the connection"
    assert engine.error_backoff == 0.0
    assert len(store.heartbeats) == 1, "no heartbeat from a failed tick"


def test_it_sleeps_until_the_next_work_on_its_sleeper(
    engine: BeatEngine, store: FakeStore, sleeper: FakeSleeper
) -> None:
    store.next_work = START + timedelta(seconds=0.4)

    remaining = engine.tick()

    assert sleeper.slept == [pytest.approx(0.4)]
    assert remaining == 0.0


@pytest.mark.parametrize(
    ("next_work_in", "expected_sleep"),
    [(None, 1.0), (5.0, 1.0), (-3.0, MIN_SLEEP)],
    ids=["nothing to do: the poll interval", "far work: capped by the poll interval", "overdue work: a brief poll"],
)
def test_the_sleep_is_bounded_by_the_poll_interval_and_a_minimum(
    engine: BeatEngine, store: FakeStore, sleeper: FakeSleeper, next_work_in: float | None, expected_sleep: float
) -> None:
    store.next_work = None if next_work_in is None else START + timedelta(seconds=next_work_in)

    remaining = engine.tick()

    if expected_sleep <= MIN_SLEEP:
        assert (remaining, sleeper.slept) == (MIN_SLEEP, []), "too short to sleep on the listener"
    else:
        assert sleeper.slept == [expected_sleep]


def test_closing_releases_the_sleeper_and_the_connection(
    engine: BeatEngine, store: FakeStore, sleeper: FakeSleeper
) -> None:
    engine.close()

    assert sleeper.closed
    assert store.recovered == 1


def test_expired_history_is_deleted_batch_after_batch_while_idle_then_looked_for_again_later(
    engine: BeatEngine, store: FakeStore, clock: ManualClock
) -> None:
    store.expired = 1200
    with override_settings(BEAT_STORE_PRUNE_BATCH=500):
        for _ in range(4):  # idle ticks: nothing due
            engine.tick()
            clock.advance(1.0)
        clock.advance(PRUNE_EVERY)
        engine.tick()

    assert store.prunes == [500, 500, 200, 0]


def test_no_history_is_deleted_when_work_is_due_within_a_second(engine: BeatEngine, store: FakeStore) -> None:
    store.expired = 10
    store.next_work = START + timedelta(seconds=0.4)

    engine.tick()

    assert store.prunes == []


def test_time_spent_deleting_comes_off_the_sleep(engine: BeatEngine, store: FakeStore, sleeper: FakeSleeper) -> None:
    store.expired = 10
    store.seconds_per_prune = 0.3

    engine.tick()

    assert sleeper.slept == [pytest.approx(0.7)]


def test_a_backlog_is_deleted_a_few_small_batches_a_second_while_idle(
    engine: BeatEngine, store: FakeStore, sleeper: FakeSleeper
) -> None:
    store.expired = 250
    with override_settings(BEAT_STORE_PRUNE_BATCH=100):
        engine.tick()
        engine.tick()
        engine.tick()

    assert store.prunes == [100, 100, 50]
    # Full batches: the next tick a quarter of a second later; then the usual poll interval.
    assert sleeper.slept == [PRUNE_AGAIN_AFTER, PRUNE_AGAIN_AFTER, 1.0]


# -- Runs decided ahead (BEAT_STORE_PREPARE_AHEAD) ----------------------------------------------------------------


@pytest.fixture
def staging_engine(engine: BeatEngine) -> Iterator[BeatEngine]:
    """The engine, with a broker that takes staged messages."""
    assert isinstance(engine.sender, FakeSender)
    engine.sender.stages = True
    with override_settings(BEAT_STORE_PREPARE_AHEAD=30):
        yield engine


def test_staged_runs_are_released_before_planning_and_between_batches(
    staging_engine: BeatEngine, store: FakeStore
) -> None:
    store.due = 4
    assert isinstance(staging_engine.sender, FakeSender)
    staging_engine.sender.staged_due = 2 * BATCH + 1

    staging_engine.tick()

    assert store.calls[:6] == ["prepare", "release:3", "release:3", "release:1", "plan_new", "plan:3"]
    releases_after_planning = [call for call in store.calls[5:] if call.startswith("release")]
    assert releases_after_planning == ["release:0"], "one look after each full planned batch"


@pytest.mark.parametrize(
    ("next_release", "looks"),
    [(None, False), (START + timedelta(seconds=5), False), (START - timedelta(seconds=1), True)],
    ids=["nothing staged", "the next release still ahead", "a release due"],
)
def test_a_tick_looks_for_staged_runs_only_when_the_last_one_saw_some_due(
    staging_engine: BeatEngine, store: FakeStore, next_release: datetime | None, looks: bool
) -> None:
    store.next_release = next_release
    staging_engine.tick()  # the first tick always looks, and learns the next release time
    store.calls.clear()

    staging_engine.tick()

    assert any(call.startswith("release") for call in store.calls) is looks


def test_planning_decides_ahead_by_the_setting_and_stages_through_the_sender(
    staging_engine: BeatEngine, store: FakeStore
) -> None:
    store.due = 1

    staging_engine.tick()

    assert store.prepared_until[0] == START + timedelta(seconds=30)
    assert "stage" in store.calls
    assert store.asked_ahead == [timedelta(seconds=30)], "the sleep ends 30 s before the next fire time"


@pytest.mark.parametrize(
    ("sender_stages", "store_stages", "seconds"),
    [(False, True, 30), (True, False, 30), (True, True, 0)],
    ids=["broker cannot stage", "database does not take them (SQLite)", "turned off"],
)
def test_without_staging_runs_are_decided_at_their_fire_time(
    engine: BeatEngine, store: FakeStore, sender_stages: bool, store_stages: bool, seconds: float
) -> None:
    assert isinstance(engine.sender, FakeSender)
    engine.sender.stages, store.stages = sender_stages, store_stages
    store.due = 1

    with override_settings(BEAT_STORE_PREPARE_AHEAD=seconds):
        engine.tick()

    assert store.prepared_until == [None]
    assert not [call for call in store.calls if call.startswith(("release", "stage"))]
    assert store.asked_ahead == [timedelta(0)]


def test_staged_messages_left_behind_are_cleaned_up_while_idle(staging_engine: BeatEngine, store: FakeStore) -> None:
    store.next_work = START + timedelta(seconds=10)

    staging_engine.tick()

    assert isinstance(staging_engine.sender, FakeSender)
    assert staging_engine.sender.garbage_collections == 1
