"""The pure timing rules (spec rules 1-5 and 8), with hand-written fake triggers and time passed in."""

from __future__ import annotations

import bisect
import random
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from beat_store.enums import CoalescePolicy, ExecutionStatus
from beat_store.exceptions import TriggerGaveUp
from beat_store.planning import (
    Plan,
    PlannedRun,
    SkippedSpan,
    TimingPolicy,
    due_fire_times,
    plan_manual_run,
    plan_runs,
)

UTC = timezone.utc
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
LATE_BY = timedelta(seconds=10)  # beat looks at the schedule 10 s after the latest due fire time

LATEST = CoalescePolicy.LATEST
EARLIEST = CoalescePolicy.EARLIEST
ALL = CoalescePolicy.ALL
PENDING = ExecutionStatus.PENDING
MISSED = ExecutionStatus.MISSED
SKIPPED = ExecutionStatus.SKIPPED


class EveryTrigger:
    """Fires at ``anchor + k * period`` for k >= 0, shown in ``zone``; counts how often it is asked."""

    def __init__(self, anchor: datetime, period: timedelta, zone: timezone | ZoneInfo = UTC) -> None:
        self.anchor = anchor
        self.period = period
        self.zone = zone
        self.calls = 0

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        self.calls += 1
        if moment <= self.anchor:
            return self.anchor.astimezone(self.zone)
        periods = -((self.anchor - moment) // self.period)  # ceiling division
        return (self.anchor + periods * self.period).astimezone(self.zone)


class ListTrigger:
    """Fires at exactly the given times, then runs out."""

    def __init__(self, times: list[datetime]) -> None:
        self.times = sorted(times)
        self.calls = 0

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        self.calls += 1
        index = bisect.bisect_left(self.times, moment)
        return self.times[index] if index < len(self.times) else None


class GivingUpTrigger:
    def next_at_or_after(self, moment: datetime) -> datetime | None:
        raise TriggerGaveUp("members never agree within 10000 iterations")


class ConstantRandom(random.Random):
    """Always draws the same fraction of the allowed range (``Random`` subclasses override ``random()``)."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def random(self) -> float:
        return self.fraction


def at(minutes: int) -> datetime:
    return START + minutes * MINUTE


def policy(
    coalesce: CoalescePolicy = LATEST,
    grace: float | None = None,
    max_instances: int = 1,
    jitter: float | None = None,
) -> TimingPolicy:
    return TimingPolicy(coalesce=coalesce, misfire_grace_time=grace, max_instances=max_instances, jitter=jitter)


def expect_runs(
    *, pending: tuple[int, ...] = (), missed: tuple[int, ...] = (), skipped: tuple[int, ...] = ()
) -> list[tuple[int, ExecutionStatus]]:
    """Expected (minute, status) pairs, in fire-time order."""
    statuses = {
        **dict.fromkeys(pending, PENDING),
        **dict.fromkeys(missed, MISSED),
        **dict.fromkeys(skipped, SKIPPED),
    }
    return sorted(statuses.items())


FIRST_THOUSAND = tuple(range(1000))
AFTER_FIRST = tuple(range(1, 1000))


def row(
    sentence: str,
    coalesce: CoalescePolicy,
    *,
    downtime: int,
    runs: list[tuple[int, ExecutionStatus]],
    grace: float | None = None,
    max_instances: int = 1,
    open_executions: int = 0,
) -> object:
    """One planning case: beat looks `downtime` one-minute intervals after next_fire_at (minute 0), plus 10 s.

    ``runs`` are the expected (minute, status) pairs; next_fire_at must become minute downtime + 1 and
    last_fire_at minute downtime.
    """
    return pytest.param(coalesce, grace, max_instances, open_executions, downtime, runs, id=sentence)


PLANNING_TABLE = [
    # on time
    row("an on-time fire time becomes one pending run", LATEST, downtime=0, runs=expect_runs(pending=(0,))),
    row("coalesce earliest on time sends the one run", EARLIEST, downtime=0, runs=expect_runs(pending=(0,))),
    row("coalesce all on time sends the one run", ALL, downtime=0, runs=expect_runs(pending=(0,))),
    row("a 30 s grace covers a run 10 s late", LATEST, downtime=0, grace=30, runs=expect_runs(pending=(0,))),
    row("a 5 s grace misses a run 10 s late", LATEST, downtime=0, grace=5, runs=expect_runs(missed=(0,))),
    row(
        "max instances reached skips the on-time run",
        LATEST,
        downtime=0,
        open_executions=1,
        runs=expect_runs(skipped=(0,)),
    ),
    # one interval down
    row("coalesce latest sends one run for two due", LATEST, downtime=1, runs=expect_runs(pending=(1,))),
    row("coalesce earliest runs the first of two due", EARLIEST, downtime=1, runs=expect_runs(pending=(0,))),
    row(
        "coalesce all sends both of two due",
        ALL,
        downtime=1,
        max_instances=2,
        runs=expect_runs(pending=(0, 1)),
    ),
    row(
        "missed runs are missed even when no slot is free",
        ALL,
        downtime=1,
        grace=5,
        open_executions=1,
        runs=expect_runs(missed=(0, 1)),
    ),
    # three intervals down
    row("coalesce latest sends one run for four due", LATEST, downtime=3, runs=expect_runs(pending=(3,))),
    row("coalesce earliest sends the first of four due", EARLIEST, downtime=3, runs=expect_runs(pending=(0,))),
    row(
        "coalesce all sends four runs when slots allow",
        ALL,
        downtime=3,
        max_instances=5,
        runs=expect_runs(pending=(0, 1, 2, 3)),
    ),
    row(
        "coalesce all past one slot skips the rest",
        ALL,
        downtime=3,
        runs=expect_runs(pending=(0,), skipped=(1, 2, 3)),
    ),
    row(
        "an open execution takes one of two slots",
        ALL,
        downtime=3,
        max_instances=2,
        open_executions=1,
        runs=expect_runs(pending=(0,), skipped=(1, 2, 3)),
    ),
    row(
        "a free second slot lets the latest run go",
        LATEST,
        downtime=3,
        max_instances=2,
        open_executions=1,
        runs=expect_runs(pending=(3,)),
    ),
    row(
        "max instances reached skips the earliest",
        EARLIEST,
        downtime=3,
        open_executions=1,
        runs=expect_runs(skipped=(0,)),
    ),
    row(
        "coalesce latest with grace sends the recent one",
        LATEST,
        downtime=3,
        grace=30,
        runs=expect_runs(pending=(3,)),
    ),
    row(
        "coalesce earliest with grace misses the old one",
        EARLIEST,
        downtime=3,
        grace=30,
        runs=expect_runs(missed=(0,)),
    ),
    row(
        "coalesce all with grace misses all but the latest",
        ALL,
        downtime=3,
        grace=30,
        runs=expect_runs(missed=(0, 1, 2), pending=(3,)),
    ),
    row(
        "a missed run takes no slot",
        ALL,
        downtime=3,
        grace=90,
        runs=expect_runs(missed=(0, 1), pending=(2,), skipped=(3,)),
    ),
    row(
        "a run within grace is skipped when no slot is free",
        LATEST,
        downtime=3,
        grace=30,
        open_executions=1,
        runs=expect_runs(skipped=(3,)),
    ),
    # 5000 intervals down: past the 1,000 catch-up bound
    row("coalesce latest after 5000 intervals", LATEST, downtime=5000, runs=expect_runs(pending=(5000,))),
    row("coalesce earliest after 5000 intervals", EARLIEST, downtime=5000, runs=expect_runs(pending=(0,))),
    row(
        "coalesce all after 5000 intervals sends the first thousand and the latest",
        ALL,
        downtime=5000,
        max_instances=2000,
        runs=expect_runs(pending=(*FIRST_THOUSAND, 5000)),
    ),
    row(
        "coalesce all after 5000 intervals with one slot skips all but the first",
        ALL,
        downtime=5000,
        runs=expect_runs(pending=(0,), skipped=(*AFTER_FIRST, 5000)),
    ),
    row(
        "coalesce all after 5000 intervals with grace misses the old thousand",
        ALL,
        downtime=5000,
        grace=30,
        runs=expect_runs(missed=FIRST_THOUSAND, pending=(5000,)),
    ),
    row(
        "coalesce latest with grace after 5000 intervals",
        LATEST,
        downtime=5000,
        grace=30,
        runs=expect_runs(pending=(5000,)),
    ),
    row(
        "coalesce earliest with grace after 5000 intervals misses",
        EARLIEST,
        downtime=5000,
        grace=30,
        max_instances=2,
        open_executions=1,
        runs=expect_runs(missed=(0,)),
    ),
]


@pytest.mark.parametrize(
    ("coalesce", "grace", "max_instances", "open_executions", "downtime", "expected_runs"), PLANNING_TABLE
)
def test_plan_runs_decides_runs_by_coalesce_grace_and_max_instances(
    coalesce, grace, max_instances, open_executions, downtime, expected_runs
):
    trigger = EveryTrigger(START, MINUTE)
    now = at(downtime) + LATE_BY

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=now,
        policy=policy(coalesce, grace, max_instances),
        open_executions=open_executions,
        rng=random.Random(0),
    )

    assert [((run.fire_time - START) // MINUTE, run.status) for run in plan.runs] == expected_runs
    assert plan.next_fire_at == at(downtime + 1)
    assert plan.last_fire_at == at(downtime)
    assert all((run.reason == "") == (run.status == PENDING) for run in plan.runs)


@pytest.mark.parametrize(
    ("grace", "expected_deadline"),
    [
        pytest.param(None, None, id="no grace means no start deadline"),
        pytest.param(30, at(0) + timedelta(seconds=30), id="a 30 s grace puts the deadline 30 s after fire time"),
    ],
)
def test_plan_runs_without_jitter_sends_at_the_fire_time(grace, expected_deadline):
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=at(0),
        policy=policy(grace=grace),
        open_executions=0,
        rng=random.Random(1),
    )

    assert plan.runs == (
        PlannedRun(
            fire_time=at(0),
            jitter=0.0,
            send_at=at(0),
            deadline_at=expected_deadline,
            status=PENDING,
            reason="",
        ),
    )


def test_plan_runs_explains_missed_and_skipped_runs():
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=at(2) + timedelta(seconds=2),
        policy=policy(ALL, grace=70, max_instances=2),
        open_executions=1,
        rng=random.Random(0),
    )

    assert [(run.status, run.reason) for run in plan.runs] == [
        (MISSED, "start deadline passed 52.0 s before beat could send it"),
        (PENDING, ""),
        (SKIPPED, "2 of max 2 instances still running"),
    ]


def test_plan_runs_before_the_next_fire_time_leaves_the_schedule_untouched():
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=at(1),
        now=at(0) + LATE_BY,
        policy=policy(),
        open_executions=0,
        rng=random.Random(0),
    )

    assert plan == Plan(runs=(), next_fire_at=at(1), last_fire_at=None, skipped_span=None)
    assert trigger.calls == 0


def test_plan_runs_counts_a_fire_time_exactly_at_now_as_due():
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=at(0),
        now=at(1),
        policy=policy(ALL, max_instances=3),
        open_executions=0,
        rng=random.Random(0),
    )

    assert [run.fire_time for run in plan.runs] == [at(0), at(1)]
    assert plan.next_fire_at == at(2)


@pytest.mark.parametrize(
    ("fraction", "expected_jitter"),
    [
        pytest.param(0.0, 0.0, id="the smallest draw adds no delay"),
        pytest.param(0.5, 20.0, id="a middle draw adds half the jitter"),
        pytest.param(0.999999999, 40.0, id="the largest draw adds the whole jitter"),
    ],
)
def test_jitter_delays_the_send_and_keeps_the_fire_time(fraction, expected_jitter):
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=at(0),
        policy=policy(jitter=40),
        open_executions=0,
        rng=ConstantRandom(fraction),
    )

    (run,) = plan.runs
    assert run.fire_time == at(0)
    assert run.jitter == expected_jitter
    assert run.send_at == at(0) + timedelta(seconds=expected_jitter)


def test_jitter_larger_than_the_period_stops_short_of_the_following_fire_time():
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=at(0),
        policy=policy(jitter=600),
        open_executions=0,
        rng=ConstantRandom(0.999999999),
    )

    (run,) = plan.runs
    assert run.send_at == at(1) - timedelta(microseconds=1)
    assert run.jitter == pytest.approx(59.999999)


def test_jitter_of_the_last_iterated_run_stops_before_the_skipped_span():
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=at(100),
        policy=policy(ALL, max_instances=10, jitter=3600),
        open_executions=0,
        rng=ConstantRandom(0.999999999),
        max_catch_up=3,
    )

    assert [run.fire_time for run in plan.runs] == [at(0), at(1), at(2), at(100)]
    assert [run.send_at for run in plan.runs] == [at(n) - timedelta(microseconds=1) for n in (1, 2, 3, 101)]


def test_jitter_with_a_seeded_rng_stays_below_the_following_fire_time_for_every_run():
    trigger = EveryTrigger(START, timedelta(seconds=7))
    now = START + timedelta(hours=1)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=now,
        policy=policy(ALL, max_instances=1000, jitter=10),
        open_executions=0,
        rng=random.Random(20260302),
    )

    fire_times = [run.fire_time for run in plan.runs]
    followers = [*fire_times[1:], plan.next_fire_at]
    assert len(plan.runs) == 515
    assert all(run.fire_time <= run.send_at < following for run, following in zip(plan.runs, followers, strict=True))
    assert len({run.jitter for run in plan.runs}) > 400  # the draws really vary


@given(
    period_us=st.integers(min_value=1, max_value=7 * 24 * 3600 * 1_000_000),
    jitter=st.floats(min_value=0, max_value=14 * 24 * 3600, allow_nan=False, allow_infinity=False),
    downtime=st.integers(min_value=0, max_value=5),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jitter_never_reaches_the_following_fire_time(period_us, jitter, downtime, seed):
    period = timedelta(microseconds=period_us)
    trigger = EveryTrigger(START, period)
    now = START + downtime * period

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=now,
        policy=policy(ALL, max_instances=10, jitter=jitter),
        open_executions=0,
        rng=random.Random(seed),
    )

    assert len(plan.runs) == downtime + 1
    for run in plan.runs:
        assert 0 <= run.jitter <= jitter
        assert run.send_at == run.fire_time + timedelta(seconds=run.jitter)
        assert run.send_at < run.fire_time + period


@pytest.mark.parametrize(
    ("jitter_fraction", "expected_status", "expected_deadline"),
    [
        pytest.param(0.5, PENDING, at(0) + timedelta(seconds=50), id="a 20 s jitter pushes the deadline past now"),
        pytest.param(0.0, MISSED, at(0) + timedelta(seconds=30), id="without jitter the same run is missed"),
    ],
)
def test_start_deadline_includes_jitter(jitter_fraction, expected_status, expected_deadline):
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=at(0) + timedelta(seconds=45),
        policy=policy(grace=30, jitter=40),
        open_executions=0,
        rng=ConstantRandom(jitter_fraction),
    )

    (run,) = plan.runs
    assert run.deadline_at == expected_deadline
    assert run.status == expected_status


@pytest.mark.parametrize(
    ("seconds_late", "expected_status"),
    [
        pytest.param(30, PENDING, id="a run reaching its deadline exactly is still sent"),
        pytest.param(30.5, MISSED, id="a run half a second past its deadline is missed"),
    ],
)
def test_start_deadline_is_missed_only_once_passed(seconds_late, expected_status):
    trigger = EveryTrigger(START, MINUTE)

    plan = plan_runs(
        trigger,
        next_fire_at=START,
        now=at(0) + timedelta(seconds=seconds_late),
        policy=policy(grace=30),
        open_executions=0,
        rng=random.Random(0),
    )

    assert [run.status for run in plan.runs] == [expected_status]


class TestCatchUpAfterThreeDaysDownOnAOneSecondInterval:
    """spec rule 1: more than 1,000 due fire times are caught up without iterating each one."""

    now = START + timedelta(days=3)
    latest = START + timedelta(days=3)

    def plan(self, coalesce: CoalescePolicy) -> tuple[Plan, EveryTrigger]:
        trigger = EveryTrigger(START, timedelta(seconds=1))
        plan = plan_runs(
            trigger,
            next_fire_at=START,
            now=self.now,
            policy=policy(coalesce, max_instances=2000),
            open_executions=0,
            rng=random.Random(0),
        )
        return plan, trigger

    def test_asks_the_trigger_about_a_thousand_times_not_a_quarter_million(self):
        _, trigger = self.plan(LATEST)

        assert trigger.calls < 1100

    def test_reports_the_skipped_span(self):
        plan, _ = self.plan(LATEST)

        assert plan.skipped_span == SkippedSpan(
            first=START + timedelta(seconds=1000),
            last=self.latest - timedelta(seconds=1),
            approximate_count=3 * 24 * 3600 - 1000,
        )

    def test_coalesce_latest_still_runs_the_latest(self):
        plan, _ = self.plan(LATEST)

        assert [run.fire_time for run in plan.runs] == [self.latest]
        assert plan.last_fire_at == self.latest
        assert plan.next_fire_at == self.latest + timedelta(seconds=1)

    def test_coalesce_earliest_still_runs_the_earliest(self):
        plan, _ = self.plan(EARLIEST)

        assert [run.fire_time for run in plan.runs] == [START]
        assert plan.last_fire_at == self.latest

    def test_coalesce_all_runs_the_first_thousand_and_the_latest(self):
        plan, _ = self.plan(ALL)

        expected = [START + timedelta(seconds=n) for n in range(1000)] + [self.latest]
        assert [run.fire_time for run in plan.runs] == expected
        assert plan.next_fire_at == self.latest + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("due_count", "expected_minutes", "expected_span"),
    [
        pytest.param(3, [0, 1, 2], None, id="exactly the bound is iterated without a span"),
        pytest.param(4, [0, 1, 2, 3], None, id="one past the bound is the latest and nothing is skipped"),
        pytest.param(5, [0, 1, 2, 4], SkippedSpan(at(3), at(3), 1), id="two past the bound skip exactly one fire time"),
        pytest.param(50, [0, 1, 2, 49], SkippedSpan(at(3), at(48), 46), id="many past the bound skip a counted span"),
    ],
)
def test_due_fire_times_around_the_catch_up_bound(due_count, expected_minutes, expected_span):
    trigger = EveryTrigger(START, MINUTE)

    due, span, following = due_fire_times(trigger, next_fire_at=START, now=at(due_count - 1), max_catch_up=3)

    assert due == [at(minute) for minute in expected_minutes]
    assert span == expected_span
    assert following == at(due_count)


def test_catch_up_finds_the_latest_fire_time_when_fire_times_bunch_up_before_now():
    burst_start = START + timedelta(days=2)
    burst = [burst_start + timedelta(microseconds=n) for n in range(500)]
    steady = [START + timedelta(seconds=n) for n in range(2000)]
    after_now = START + timedelta(days=4)
    trigger = ListTrigger([*steady, *burst, after_now])

    due, span, following = due_fire_times(trigger, next_fire_at=START, now=START + timedelta(days=3), max_catch_up=1000)

    assert due == [*steady[:1000], burst[-1]]
    assert span is not None
    assert span.first == steady[1000]
    assert following == after_now
    assert trigger.calls < 1200


def test_due_fire_times_are_strictly_increasing_across_a_fall_back():
    new_york = ZoneInfo("America/New_York")
    fall_back = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 02:00 EDT becomes 01:00 EST
    trigger = EveryTrigger(fall_back - timedelta(hours=1), timedelta(minutes=30), zone=new_york)

    due, span, following = due_fire_times(
        trigger, next_fire_at=fall_back - timedelta(hours=1), now=fall_back + timedelta(hours=1)
    )

    assert due == [fall_back + n * timedelta(minutes=30) for n in range(-2, 3)]
    assert all(moment.tzinfo is UTC for moment in due)
    assert span is None
    assert following == fall_back + timedelta(minutes=90)


@pytest.mark.parametrize(
    ("now", "expected_runs", "expected_last"),
    [
        pytest.param(at(5), [at(0), at(1)], at(1), id="a trigger that runs out finishes the schedule"),
        pytest.param(at(0), [at(0)], at(0), id="a trigger with one fire time left keeps the next one"),
    ],
)
def test_finished_trigger_gives_no_next_fire_time(now, expected_runs, expected_last):
    trigger = ListTrigger([at(0), at(1)])

    plan = plan_runs(
        trigger,
        next_fire_at=at(0),
        now=now,
        policy=policy(ALL, max_instances=5),
        open_executions=0,
        rng=random.Random(0),
    )

    assert [run.fire_time for run in plan.runs] == expected_runs
    assert plan.last_fire_at == expected_last
    assert plan.next_fire_at == (None if now == at(5) else at(1))


def test_trigger_that_gives_up_propagates_to_the_caller():
    with pytest.raises(TriggerGaveUp, match="never agree"):
        plan_runs(
            GivingUpTrigger(),
            next_fire_at=START,
            now=at(1),
            policy=policy(),
            open_executions=0,
            rng=random.Random(0),
        )


def test_trigger_that_goes_backwards_is_refused_instead_of_looping():
    class StuckTrigger:
        def next_at_or_after(self, moment: datetime) -> datetime | None:
            return START

    with pytest.raises(ValueError, match="before"):
        due_fire_times(StuckTrigger(), next_fire_at=START, now=at(1))


@pytest.mark.parametrize(
    ("open_executions", "grace", "expected_status", "expected_reason", "expected_deadline"),
    [
        pytest.param(0, None, PENDING, "", None, id="run now with a free slot is pending without a deadline"),
        pytest.param(
            0,
            30,
            PENDING,
            "",
            at(0) + timedelta(seconds=30),
            id="run now gets a deadline from the grace time",
        ),
        pytest.param(
            2,
            30,
            SKIPPED,
            "2 of max 2 instances still running",
            at(0) + timedelta(seconds=30),
            id="run now at max instances is skipped",
        ),
    ],
)
def test_plan_manual_run(open_executions, grace, expected_status, expected_reason, expected_deadline):
    run = plan_manual_run(
        now=at(0), policy=policy(grace=grace, max_instances=2, jitter=30), open_executions=open_executions
    )

    assert run == PlannedRun(
        fire_time=at(0),
        jitter=0.0,
        send_at=at(0),
        deadline_at=expected_deadline,
        status=expected_status,
        reason=expected_reason,
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"max_instances": 0}, "max_instances must be an integer >= 1", id="zero max instances"),
        pytest.param({"misfire_grace_time": -1}, "misfire_grace_time must be a finite", id="a negative grace"),
        pytest.param({"misfire_grace_time": float("inf")}, "misfire_grace_time", id="an infinite grace"),
        pytest.param({"jitter": -0.5}, "jitter must be a finite number", id="a negative jitter"),
        pytest.param({"coalesce": "sometimes"}, "not a valid CoalescePolicy", id="an unknown coalesce policy"),
    ],
)
def test_timing_policy_refuses_impossible_values(fields, message):
    values = {"coalesce": LATEST, "misfire_grace_time": None, "max_instances": 1, "jitter": None, **fields}

    with pytest.raises(ValueError, match=message):
        TimingPolicy(**values)


def test_timing_policy_accepts_the_stored_coalesce_string():
    timing = TimingPolicy(coalesce="earliest", misfire_grace_time=0, max_instances=1, jitter=0)

    assert timing.coalesce is CoalescePolicy.EARLIEST


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: due_fire_times(EveryTrigger(START, MINUTE), next_fire_at=START, now=datetime(2026, 3, 2)),
            "planning needs aware datetimes",
            id="a naive now is refused",
        ),
        pytest.param(
            lambda: due_fire_times(EveryTrigger(START, MINUTE), next_fire_at=START, now=at(1), max_catch_up=0),
            "max_catch_up must be >= 1",
            id="a zero catch-up bound is refused",
        ),
        pytest.param(
            lambda: plan_manual_run(now=at(0), policy=policy(), open_executions=-1),
            "open_executions must be >= 0",
            id="negative open executions are refused",
        ),
    ],
)
def test_planning_refuses_programming_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
