"""High availability (docs/spec.md rule 10, issue 4): several real `celery beat` processes, a beat killed mid-herd,
Redis and PostgreSQL outages. No worker runs, so every published message stays in Redis and is counted there,
next to the execution rows: one (schedule, fire time) must give one execution and one message.
"""

from __future__ import annotations

import functools
import itertools
import signal
import subprocess
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, QuerySet
from django.utils import timezone

from beat_store import add_schedule, next_fire_times
from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.models import Execution, Schedule
from tests.integration.broker import BrokerMessage, PrivateRedis, published_by, read_messages, repeated
from tests.integration.database import terminate_other_connections
from tests.integration.processes import CeleryProcesses, wait_until

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

EVERY_SECOND = {"type": "interval", "seconds": 1}
#: No worker runs, so every sent run stays open: without room for all of them max instances would skip runs.
NO_WORKER_MAX_INSTANCES = 1000
SENT_LINE = "Sent run of "
READY_LINE = "beat_store: synced"

with_a_database_server = pytest.mark.skipif(
    connection.vendor == "sqlite", reason="SQLite is a file: there is no server connection to cut"
)


def start_beats(processes: CeleryProcesses, count: int) -> list[str]:
    """Start ``count`` beats one after the other, each once the previous one has synced its declared schedules.

    One after the other: beats started at the same instant race to sync the declared schedules, which
    ``test_beats_started_at_the_same_instant_all_survive_the_sync_of_declared_schedules`` covers on its own.
    """
    labels = [f"beat-{number}" for number in range(1, count + 1)]
    for label in labels:
        processes.start_beat(label)
        wait_until(functools.partial(has_started, processes, label), timeout=30, message=f"{label} to start")
    return labels


def has_started(processes: CeleryProcesses, label: str) -> bool:
    return READY_LINE in beat_log(processes, label)


def beat_log(processes: CeleryProcesses, label: str) -> str:
    path = processes.log_dir / f"{label}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def process_of(processes: CeleryProcesses, label: str) -> subprocess.Popen[bytes]:
    return next(process for name, process in processes.running if name == label)


def beat_caught_sending(processes: CeleryProcesses, labels: Sequence[str], *, still_holding: int) -> str | None:
    """A beat that has logged sends and holds at least ``still_holding`` runs leased and pending, if any."""
    label_of_pid = {process_of(processes, label).pid: label for label in labels}
    held = (
        Execution.objects.filter(status=ExecutionStatus.PENDING)
        .exclude(lease_owner="")
        .values("lease_owner")
        .annotate(runs=Count("id"))
    )
    for row in held:
        label = label_of_pid.get(int(row["lease_owner"].split(":")[1]))
        if label and row["runs"] >= still_holding and SENT_LINE in beat_log(processes, label):
            return label
    return None


def whole_second_from_now(seconds: int) -> datetime:
    return timezone.now().replace(microsecond=0) + timedelta(seconds=seconds)


def execution_keys(names: Sequence[str]) -> list[tuple[str, datetime]]:
    return list(Execution.objects.filter(schedule_name__in=names).values_list("schedule_name", "fire_time"))


def sent_runs(name: str) -> QuerySet[Execution]:
    return Execution.objects.filter(schedule_name=name, status=ExecutionStatus.SENT)


def sent_runs_of(names: Sequence[str]) -> QuerySet[Execution]:
    return Execution.objects.filter(schedule_name__in=names, status=ExecutionStatus.SENT)


def statuses_of(names: Sequence[str]) -> set[str]:
    return set(Execution.objects.filter(schedule_name__in=names).values_list("status", flat=True))


def wait_for_run_sent_after(name: str, moment: datetime, *, timeout: float, message: str) -> Execution:
    """The first sent run of ``name`` whose fire time is after ``moment``, once there is one."""
    found = wait_until(
        lambda: sent_runs(name).filter(fire_time__gt=moment).order_by("fire_time").first(),
        timeout=timeout,
        message=message,
    )
    assert found is not None
    return found


def describe_repeats(messages: Sequence[BrokerMessage]) -> str:
    repeats = repeated(message.run_key for message in messages)
    shown = ", ".join(f"{name}@{fire.isoformat()} x{count}" for (name, fire), count in list(repeats.items())[:5])
    return f"{len(repeats)} run(s) published more than once ({sum(repeats.values()) - len(repeats)} extra): {shown}"


def assert_one_message_per_sent_execution(messages: Sequence[BrokerMessage], names: Sequence[str]) -> None:
    sent = sent_runs_of(names)

    assert repeated(message.run_key for message in messages) == {}, describe_repeats(messages)
    assert repeated(message.task_id for message in messages) == {}
    assert {message.run_key for message in messages} == set(sent.values_list("schedule_name", "fire_time"))
    assert {message.task_id for message in messages} == set(sent.values_list("task_id", flat=True))


def assert_every_second_without_gap(fire_times: Sequence[datetime]) -> None:
    assert len(fire_times) == len(set(fire_times)), "a fire time was recorded twice"
    one_second = timedelta(seconds=1)
    gaps = [(earlier, later) for earlier, later in itertools.pairwise(fire_times) if later - earlier != one_second]
    assert gaps == [], f"fire times lost between: {gaps}"


def test_beats_started_at_the_same_instant_all_survive_the_sync_of_declared_schedules(
    celery_processes: CeleryProcesses, redis_url: str
) -> None:
    labels = [f"beat-{number}" for number in range(1, 6)]

    for label in labels:
        celery_processes.start_beat(label)
    wait_until(
        lambda: all(
            has_started(celery_processes, label) or process_of(celery_processes, label).poll() is not None
            for label in labels
        ),
        timeout=30,
        message="every beat to start or exit",
    )
    crashed = {
        label: beat_log(celery_processes, label)[-600:]
        for label in labels
        if process_of(celery_processes, label).poll() is not None
    }

    assert crashed == {}


@pytest.mark.parametrize("beat_count", [2, 3], ids=["two beats share", "three beats share"])
def test_several_beats_send_each_fire_time_of_fifty_schedules_once(
    celery_processes: CeleryProcesses, redis_url: str, beat_count: int
) -> None:
    labels = start_beats(celery_processes, beat_count)
    start_at = whole_second_from_now(2)
    end_at = start_at + timedelta(seconds=5)
    names = [f"shared-{number:02d}" for number in range(50)]
    for name in names:
        add_schedule(
            name,
            "tests.add",
            EVERY_SECOND,
            args=[1, 1],
            coalesce="all",
            start_at=start_at,
            end_at=end_at,
            max_instances=NO_WORKER_MAX_INSTANCES,
        )
    expected_fire_times = next_fire_times(
        EVERY_SECOND, start_at=start_at, end_at=end_at, after=start_at - timedelta(seconds=1), count=20
    )

    wait_until(
        lambda: (
            not Schedule.objects.filter(name__in=names, finished_at__isnull=True).exists()
            and not Execution.objects.filter(schedule_name__in=names, status=ExecutionStatus.PENDING).exists()
        ),
        timeout=40,
        message="every schedule to finish and every run to be sent",
    )
    alive = [label for label in labels if process_of(celery_processes, label).poll() is None]
    celery_processes.stop_all()
    messages = read_messages(redis_url)

    assert alive == labels
    assert len(expected_fire_times) == 6
    for name in names:
        fire_times = sorted(Execution.objects.filter(schedule_name=name).values_list("fire_time", flat=True))
        assert fire_times == expected_fire_times, name
    assert statuses_of(names) == {ExecutionStatus.SENT}
    assert len(messages) == len(names) * len(expected_fire_times)
    assert_one_message_per_sent_execution(messages, names)
    sends_per_beat = {label: beat_log(celery_processes, label).count(SENT_LINE) for label in labels}
    assert sum(sends_per_beat.values()) == len(messages), sends_per_beat
    print(f"runs sent per beat: {sends_per_beat}")
    if connection.vendor != "sqlite":
        assert all(
            "released from staging" in beat_log(celery_processes, label) for label in labels if sends_per_beat[label]
        )


def test_beat_killed_mid_herd_leaves_every_run_to_the_survivor_sent_exactly_once(
    celery_processes: CeleryProcesses, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BEAT_STORE_LEASE_SECONDS", "3")
    # The path that decides runs at their fire time (SQLite's, RabbitMQ's); the staged path has its own test below.
    monkeypatch.setenv("BEAT_STORE_PREPARE_AHEAD", "0")
    # One batch for the whole herd: each beat records its share (SKIP LOCKED splits the rows) leased to itself
    # in one transaction, then sends it 500 at a time. The victim is a beat caught after its first sends with
    # many runs still leased and pending. (Killing whichever beat had logged 250 sends could land after it had
    # marked every run it held sent, a chunk being one round trip, and then there was no takeover to test.)
    monkeypatch.setenv("BEAT_STORE_BATCH_SIZE", "3000")
    labels = start_beats(celery_processes, 2)
    fire_at = whole_second_from_now(2)
    herd = [
        Schedule(
            name=f"herd-{number:04d}",
            task="tests.add",
            args=[number, 1],
            trigger={"type": "date", "run_at": fire_at.isoformat()},
            trigger_kind="date",
            timezone="UTC",
            source=ScheduleSource.CODE,
            next_fire_at=fire_at,
        )
        for number in range(3000)
    ]
    Schedule.objects.bulk_create(herd, batch_size=500)
    names = [schedule.name for schedule in herd]

    victim = wait_until(
        lambda: beat_caught_sending(celery_processes, labels, still_holding=600),
        timeout=30,
        interval=0.005,
        message="a beat to have sent part of the herd with hundreds of runs still in hand",
    )
    assert victim is not None
    victim_pid = process_of(celery_processes, victim).pid
    celery_processes.stop(process_of(celery_processes, victim), signal.SIGKILL)
    orphaned = set(
        Execution.objects.filter(status=ExecutionStatus.PENDING, lease_owner__contains=f":{victim_pid}:").values_list(
            "task_id", flat=True
        )
    )
    logged_by_victim = beat_log(celery_processes, victim).count(SENT_LINE)
    survivor = next(label for label in labels if label != victim)
    wait_until(
        lambda: sent_runs_of(names).count() == len(names),
        timeout=40,
        message="the survivor to send every run of the herd",
    )
    survivor_alive = process_of(celery_processes, survivor).poll() is None
    celery_processes.stop_all()
    messages = read_messages(redis_url)
    from_victim = published_by(messages, victim_pid)
    from_survivor = published_by(messages, process_of(celery_processes, survivor).pid)
    print(
        f"{victim} SIGKILLed after logging {logged_by_victim} sends, {len(from_victim)} of which reached the broker; "
        f"it left {len(orphaned)} runs leased and pending; {survivor} published {len(from_survivor)}; "
        f"{len(messages)} messages in all, {describe_repeats(messages)}"
    )

    assert survivor_alive
    assert orphaned, "the victim was killed with no run of its own in flight: the kill did not test a takeover"
    # Orphaned runs the victim never published went out from the survivor; those it had published but not
    # recorded were found in the broker by the survivor and recorded sent without a second message.
    assert orphaned <= {message.task_id for message in from_survivor} | {message.task_id for message in from_victim}
    assert len(from_victim) + len(from_survivor) == len(messages)
    assert sorted(execution_keys(names)) == sorted((name, fire_at) for name in names)
    assert statuses_of(names) == {ExecutionStatus.SENT}
    assert {message.run_key for message in messages} == {(name, fire_at) for name in names}
    assert_one_message_per_sent_execution(messages, names)
    assert len(messages) == len(names)


@pytest.mark.skipif(connection.vendor == "sqlite", reason="runs are decided ahead on PostgreSQL and MySQL/MariaDB")
@pytest.mark.parametrize(
    "kill_after",
    [3.0, 7.8, 8.0, 8.05, 8.15],
    ids=["while deciding ahead", "just before the fire time", "at the fire time", "mid-release", "just after"],
)
def test_beat_killed_at_any_moment_of_a_staged_herd_leaves_every_run_sent_exactly_once(
    celery_processes: CeleryProcesses, redis_url: str, monkeypatch: pytest.MonkeyPatch, kill_after: float
) -> None:
    # Small batches: deciding and releasing the herd take many transactions and script calls, so a kill lands
    # between two of them or inside one.
    monkeypatch.setenv("BEAT_STORE_BATCH_SIZE", "100")
    labels = start_beats(celery_processes, 2)
    started = timezone.now()
    fire_at = started + timedelta(seconds=8)
    herd = [
        Schedule(
            name=f"staged-{number:04d}",
            task="tests.add",
            args=[number, 1],
            trigger={"type": "date", "run_at": fire_at.isoformat()},
            trigger_kind="date",
            timezone="UTC",
            source=ScheduleSource.CODE,
            next_fire_at=fire_at,
        )
        for number in range(2000)
    ]
    Schedule.objects.bulk_create(herd, batch_size=500)
    names = [schedule.name for schedule in herd]

    victim, survivor = labels
    time.sleep(max(0.0, (started + timedelta(seconds=kill_after) - timezone.now()).total_seconds()))
    staged_when_killed = Execution.objects.filter(schedule_name__in=names, lease_owner="beat_store:staged").count()
    celery_processes.stop(process_of(celery_processes, victim), signal.SIGKILL)
    wait_until(
        lambda: sent_runs_of(names).count() == len(names),
        timeout=40,
        message="the survivor to send every run of the herd",
    )
    survivor_alive = process_of(celery_processes, survivor).poll() is None
    celery_processes.stop_all()
    messages = read_messages(redis_url)
    print(f"{victim} SIGKILLed {kill_after} s in, {staged_when_killed} runs staged then; {describe_repeats(messages)}")

    assert survivor_alive
    assert sorted(execution_keys(names)) == sorted((name, fire_at) for name in names)
    assert statuses_of(names) == {ExecutionStatus.SENT}
    assert_one_message_per_sent_execution(messages, names)
    assert len(messages) == len(names)


def test_runs_decided_while_redis_is_down_wait_pending_and_go_out_when_it_returns(
    celery_processes_on_private_redis: CeleryProcesses, private_redis: PrivateRedis
) -> None:
    processes = celery_processes_on_private_redis
    add_schedule(
        "through-redis-outage",
        "tests.add",
        EVERY_SECOND,
        args=[1, 1],
        coalesce="all",
        max_instances=NO_WORKER_MAX_INSTANCES,
    )
    (label,) = start_beats(processes, 1)
    beat = process_of(processes, label)
    wait_until(
        lambda: sent_runs("through-redis-outage").count() >= 2,
        timeout=30,
        message="two runs sent before the outage",
    )

    private_redis.kill()
    killed_at = timezone.now()
    waiting = wait_until(
        lambda: (
            Execution.objects.filter(
                schedule_name="through-redis-outage", fire_time__gt=killed_at, status=ExecutionStatus.PENDING
            ).count()
            >= 3
        ),
        timeout=10,
        message="runs decided during the outage to wait as pending",
    )
    time.sleep(max(0.0, 5 - (timezone.now() - killed_at).total_seconds()))  # keep Redis down ~5 s in all
    survived_outage = beat.poll() is None
    restarting_at = timezone.now()
    private_redis.start()
    restarted_at = timezone.now()
    after_return = wait_for_run_sent_after(
        "through-redis-outage",
        restarted_at + timedelta(seconds=2),
        timeout=30,
        message="beat to send again after Redis returned",
    )
    wait_until(
        lambda: (
            not Execution.objects.filter(
                schedule_name="through-redis-outage",
                fire_time__lte=after_return.fire_time,
                status=ExecutionStatus.PENDING,
            ).exists()
        ),
        timeout=15,
        message="every run decided in the outage to be sent",
    )
    still_alive = beat.poll() is None
    processes.stop_all()
    messages = read_messages(private_redis.url)
    log = beat_log(processes, label)

    assert waiting
    assert survived_outage
    assert still_alive
    # Runs decided before the outage wait staged (PostgreSQL, MariaDB), the others pending (SQLite): either way
    # beat said it could not reach the broker and went on.
    assert "Broker refused" in log or "could not release staged runs" in log
    checked = Execution.objects.filter(schedule_name="through-redis-outage", fire_time__lte=after_return.fire_time)
    assert_every_second_without_gap(sorted(checked.values_list("fire_time", flat=True)))
    assert set(checked.values_list("status", flat=True)) == {ExecutionStatus.SENT}
    in_outage = checked.filter(fire_time__gt=killed_at, fire_time__lt=restarting_at)
    assert in_outage.count() >= 4
    # The restarted server kept nothing (no persistence): it holds only what beat published after it returned,
    # which must include every run decided in the outage, once. (``sent_at`` cannot show it: beat stamps the
    # moment it began the send, which may be just before the server came back.)
    assert repeated(message.run_key for message in messages) == {}, describe_repeats(messages)
    on_broker = {message.fire_time for message in messages}
    assert set(in_outage.values_list("fire_time", flat=True)) <= on_broker
    assert on_broker <= set(sent_runs("through-redis-outage").values_list("fire_time", flat=True))


@with_a_database_server
def test_beat_reconnects_after_its_database_connections_are_terminated_and_loses_no_fire_time(
    celery_processes: CeleryProcesses, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection cut between publishing and marking sent leaves the runs leased: a short lease keeps the
    # re-send (which this test would then report as a duplicate) within the test's time.
    monkeypatch.setenv("BEAT_STORE_LEASE_SECONDS", "3")
    add_schedule(
        "through-db-outage",
        "tests.add",
        EVERY_SECOND,
        args=[1, 1],
        coalesce="all",
        max_instances=NO_WORKER_MAX_INSTANCES,
    )
    (label,) = start_beats(celery_processes, 1)
    beat = process_of(celery_processes, label)
    wait_until(
        lambda: sent_runs("through-db-outage").count() >= 2,
        timeout=30,
        message="two runs sent before the connections are cut",
    )

    # With CONN_MAX_AGE = 0 beat opens a connection per tick, so a cut between ticks goes unnoticed: cut
    # every 20 ms for 3 s so that several land in the middle of a tick.
    terminated = 0
    storm_ends = time.monotonic() + 3
    while time.monotonic() < storm_ends:
        terminated += terminate_other_connections()
        time.sleep(0.02)
    last_cut_at = timezone.now()
    after_cuts = wait_for_run_sent_after(
        "through-db-outage",
        last_cut_at + timedelta(seconds=2),
        timeout=40,
        message="beat to fire again after its connections were terminated",
    )
    still_alive = beat.poll() is None
    celery_processes.stop_all()
    messages = read_messages(redis_url)
    log = beat_log(celery_processes, label)

    assert terminated >= 1
    assert still_alive
    assert "database error" in log
    checked = Execution.objects.filter(schedule_name="through-db-outage", fire_time__lte=after_cuts.fire_time)
    assert_every_second_without_gap(sorted(checked.values_list("fire_time", flat=True)))
    assert set(checked.values_list("status", flat=True)) == {ExecutionStatus.SENT}
    assert repeated(message.run_key for message in messages) == {}, describe_repeats(messages)
    assert set(checked.values_list("fire_time", flat=True)) <= {message.fire_time for message in messages}
