"""The operator commands and file import/export, against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from beat_store.api import add_schedule
from beat_store.enums import ExecutionStatus, ScheduleSource
from beat_store.health import record_beat_heartbeat
from beat_store.models import BeatHeartbeat, Execution, Schedule
from beat_store.transfer.exporting import RECORD_FIELDS
from beat_store.triggers import validate_trigger_spec
from tests import celery_app
from tests.integration.processes import subprocess_environment

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def schedules() -> list[Schedule]:
    return [
        add_schedule(
            "every-five",
            "tests.add",
            {"type": "interval", "minutes": 5},
            args=[1, 2],
            kwargs={"flag": True},
            description="Adds",
            start_at=datetime(2026, 1, 1, 0, 0, 30, tzinfo=timezone.utc),
            end_at=datetime(2027, 1, 1, tzinfo=timezone.utc),
            coalesce="all",
            misfire_grace_time=12.5,
            max_instances=3,
            jitter=2.0,
            queue="fast",
            exchange="ex",
            routing_key="rk",
            priority=7,
            expires=60.0,
            headers={"team": "ops"},
            metadata={"owner": "équipe ops", "ticket": 42, "tags": ["billing", None]},
        ),
        add_schedule(
            "weekday-morning",
            "tests.fail",
            {"type": "cron", "expression": "0 9 * * mon-fri"},
            timezone="Europe/Paris",
            paused=True,
        ),
    ]


def test_list_shows_trigger_next_fire_time_and_last_status(
    schedules: list[Schedule],
) -> None:
    Execution.objects.create(
        schedule=schedules[0],
        schedule_name="every-five",
        task="tests.add",
        fire_time=NOW,
        task_id="t-1",
        status=ExecutionStatus.FAILED,
        send_at=NOW,
    )

    lines = run("beat_store_list").splitlines()

    assert lines[0].split() == ["NAME", "TRIGGER", "NEXT", "FIRE", "TIME", "LAST", "STATUS"]
    assert lines[1].split()[:4] == ["every-five", "Every", "5", "minutes"]
    assert lines[1].endswith("failed")
    assert lines[2].split()[-3:] == ["paused", "never", "run"]


@override_settings(TIME_ZONE="Europe/Paris")
def test_list_shows_the_next_fire_time_in_the_site_zone_with_seconds(schedules: list[Schedule]) -> None:
    next_fire_at = schedules[0].next_fire_at
    assert next_fire_at is not None

    lines = run("beat_store_list").splitlines()

    assert f"{next_fire_at.astimezone(ZoneInfo('Europe/Paris')):%Y-%m-%d %H:%M:%S %Z}" in lines[1]


def test_list_json_is_machine_readable(schedules: list[Schedule]) -> None:
    rows = json.loads(run("beat_store_list", "--json"))

    assert [row["name"] for row in rows] == ["every-five", "weekday-morning"]
    assert rows[0]["next_fire_at"] == schedules[0].next_fire_at.isoformat()  # type: ignore[union-attr]
    assert rows[1]["paused"] is True


def test_list_says_when_there_is_nothing() -> None:
    assert run("beat_store_list").strip() == "No schedules."


def test_run_sends_a_manual_run_and_prints_its_status(schedules: list[Schedule]) -> None:
    output = run("beat_store_run", "every-five", "--kwargs", '{"flag": false}')

    execution = Execution.objects.get(schedule_name="every-five", manual=True)
    assert output.strip() == f"every-five: {execution.status} (task id {execution.task_id})"
    assert execution.kwargs_override == {"flag": False}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("beat_store_run", "nope"), "No schedule named 'nope'"),
        (("beat_store_run", "every-five", "--kwargs", "{bad"), "--kwargs is not valid JSON"),
        (("beat_store_run", "every-five", "--kwargs", "[1]"), "--kwargs must be a JSON object"),
        (("beat_store_pause", "nope"), "No schedule named 'nope'"),
        (("beat_store_resume", "nope"), "No schedule named 'nope'"),
        (("beat_store_export", "every-five", "nope"), "No schedule named 'nope'"),
        (("beat_store_check", "--max-beat-silence", "0"), "positive number of seconds"),
        (("beat_store_check", "--max-failed", "-1"), "must not be negative"),
        (("beat_store_import",), "name a FILE to import"),
        (("beat_store_import", "x.json", "--from", "redbeat"), "either FILE or --from"),
        (("beat_store_import", "/nonexistent/x.json"), "cannot read /nonexistent/x.json"),
        (("beat_store_import", "schedules.txt"), "cannot tell the format"),
    ],
    ids=[
        "run names the unknown schedule",
        "run refuses kwargs that are not JSON",
        "run refuses kwargs that are not an object",
        "pause names the unknown schedule",
        "resume names the unknown schedule",
        "export names the unknown schedule",
        "check refuses a zero silence",
        "check refuses a negative failure count",
        "import needs a file or a source",
        "import refuses a file and a source together",
        "import names a file it cannot read",
        "import refuses a file of unknown format",
    ],
)
def test_bad_names_and_arguments_are_command_errors(
    schedules: list[Schedule], args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_pause_then_resume_from_now_skips_the_missed_fire_times(schedules: list[Schedule]) -> None:
    assert run("beat_store_pause", "every-five").strip() == "Paused every-five."
    assert Schedule.objects.get(name="every-five").paused is True

    output = run("beat_store_resume", "every-five", "--from-now")

    schedule = Schedule.objects.get(name="every-five")
    assert schedule.paused is False
    assert schedule.next_fire_at is not None
    assert schedule.next_fire_at >= datetime.now(timezone.utc)
    assert output.startswith("Resumed every-five; next fire time: ")


def test_check_passes_with_a_recent_beat_and_no_failures(schedules: list[Schedule]) -> None:
    now = datetime.now(timezone.utc)
    record_beat_heartbeat("host:1:abc", now)
    Schedule.objects.filter(name="every-five").update(next_fire_at=now + timedelta(minutes=5))

    output = run("beat_store_check", "--max-beat-silence", "30")

    assert "ok: beat host:1:abc seen" in output


def test_heartbeat_is_one_row_per_beat_updated_in_place() -> None:
    record_beat_heartbeat("host:1:abc", NOW)
    record_beat_heartbeat("host:1:abc", NOW + timedelta(seconds=1))

    assert list(BeatHeartbeat.objects.values_list("owner", "seen_at")) == [("host:1:abc", NOW + timedelta(seconds=1))]


def test_check_fails_when_no_beat_was_ever_seen() -> None:
    with pytest.raises(CommandError, match="no beat has ever been seen"):
        run("beat_store_check")


def test_check_fails_on_a_silent_beat_failed_runs_and_overdue_schedules(schedules: list[Schedule]) -> None:
    long_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    record_beat_heartbeat("host:1:abc", long_ago)
    Schedule.objects.filter(name="every-five").update(next_fire_at=long_ago)
    Execution.objects.create(
        schedule=schedules[0],
        schedule_name="every-five",
        task="tests.add",
        fire_time=long_ago + timedelta(minutes=30),
        task_id="t-2",
        status=ExecutionStatus.MISSED,
        send_at=long_ago,
    )

    with pytest.raises(CommandError) as caught:
        run("beat_store_check", "--max-beat-silence", "60")

    problems = str(caught.value).splitlines()
    assert problems[0].startswith("problem: no beat seen for 3600 s")
    assert problems[1] == "problem: 1 run(s) failed, missed or lost in the last 3600 s (limit 0)"
    assert problems[2] == "problem: schedule(s) overdue by over 60 s, not advanced by beat: every-five"


@pytest.mark.django_db(transaction=True)
def test_unknown_schedule_name_exits_with_status_one_from_the_shell() -> None:
    env = subprocess_environment()
    result = subprocess.run(
        [sys.executable, "-m", "django", "beat_store_pause", "no-such-schedule"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )

    assert result.returncode == 1
    assert "No schedule named 'no-such-schedule'" in result.stderr


@pytest.mark.parametrize("fmt", ["json", "yaml"], ids=["through json", "through yaml"])
def test_export_then_import_into_an_empty_table_round_trips_every_field(
    schedules: list[Schedule], tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"schedules.{fmt}"
    run("beat_store_export", "--output", str(path))
    before = {s.name: {f: getattr(s, f) for f in RECORD_FIELDS} for s in Schedule.objects.all()}
    Schedule.objects.all().delete()

    output = run("beat_store_import", str(path))

    after = {s.name: {f: getattr(s, f) for f in RECORD_FIELDS} for s in Schedule.objects.all()}
    assert after == before
    assert set(Schedule.objects.values_list("source", flat=True)) == {ScheduleSource.IMPORT}
    assert output.splitlines()[:2] == ["created: every-five", "created: weekday-morning"]


def test_export_selected_names_to_stdout(schedules: list[Schedule]) -> None:
    document = json.loads(run("beat_store_export", "weekday-morning"))

    assert [record["name"] for record in document["schedules"]] == ["weekday-morning"]
    assert list(document["schedules"][0]) == list(RECORD_FIELDS)


def test_second_import_changes_nothing(schedules: list[Schedule], tmp_path: Path) -> None:
    path = tmp_path / "schedules.json"
    run("beat_store_export", "--output", str(path))
    run("beat_store_import", str(path))
    updated_at = dict(Schedule.objects.values_list("name", "updated_at"))

    output = run("beat_store_import", str(path))

    assert output.splitlines()[:2] == ["unchanged: every-five", "unchanged: weekday-morning"]
    assert output.strip().endswith("0 created, 0 updated, 2 unchanged.")
    assert dict(Schedule.objects.values_list("name", "updated_at")) == updated_at


def _write_records(path: Path, *records: dict[str, object]) -> str:
    path.write_text(json.dumps({"version": 2, "schedules": list(records)}))
    return str(path)


def test_one_invalid_schedule_writes_nothing_and_names_each_error(tmp_path: Path) -> None:
    path = _write_records(
        tmp_path / "s.json",
        {"name": "good", "task": "tests.add", "trigger": {"type": "interval", "seconds": 10}},
        {"name": "zero", "task": "tests.add", "trigger": {"type": "interval", "seconds": 0}},
        {
            "name": "zone",
            "task": "tests.add",
            "trigger": {"type": "interval", "seconds": 5},
            "timezone": "Mars/Base",
        },
    )
    out = StringIO()

    with pytest.raises(CommandError, match="2 schedule"):
        call_command("beat_store_import", path, stdout=out)

    assert not Schedule.objects.exists()
    lines = out.getvalue().splitlines()
    assert "would be created: good" in lines
    assert any(line.startswith("error: zero:") for line in lines)
    assert any(line.startswith("error: zone: timezone:") for line in lines)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"task": "t", "trigger": {}}, "a schedule has no 'name'"),
        ({"name": "a", "task": "t", "trigger": {}, "colour": "red"}, "a: unknown field"),
        ({"name": "a", "trigger": {}}, "a: the field 'task' is required"),
        ({"name": "a", "task": "t", "trigger": {}, "start_at": "tomorrow"}, "is not an ISO 8601"),
        ({"name": "a", "task": "t", "trigger": {}, "start_at": "2026-01-01T09:00:00"}, "needs a UTC offset"),
    ],
    ids=[
        "a record without name is refused",
        "an unknown field is refused by name",
        "a missing task is refused",
        "a start that is no date is refused",
        "a naive start is refused",
    ],
)
def test_malformed_records_are_refused_before_anything_is_written(
    tmp_path: Path, record: dict[str, object], message: str
) -> None:
    path = _write_records(tmp_path / "s.json", record)

    with pytest.raises(CommandError, match=message):
        run("beat_store_import", path)

    assert not Schedule.objects.exists()


def test_dry_run_reports_and_writes_nothing(tmp_path: Path) -> None:
    path = _write_records(
        tmp_path / "s.json", {"name": "a", "task": "tests.add", "trigger": {"type": "interval", "hours": 1}}
    )

    output = run("beat_store_import", path, "--dry-run")

    assert output.splitlines() == ["would be created: a", "Dry run: nothing was written."]
    assert not Schedule.objects.exists()


def test_ini_file_imports_with_kwargs(tmp_path: Path) -> None:
    path = tmp_path / "beat.ini"
    path.write_text("[nightly]\ncall = tests.add\nat = 02:30\ntimezone = Europe/Paris\nx = 1\ny = 2\n")

    run("beat_store_import", str(path))

    schedule = Schedule.objects.get(name="nightly")
    assert (schedule.task, schedule.kwargs, schedule.timezone) == (
        "tests.add",
        {"x": 1, "y": 2},
        "Europe/Paris",
    )
    assert schedule.next_fire_at is not None
    local = schedule.next_fire_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (
        2,
        30,
    ) or local.hour == 3  # a spring-forward night runs after the gap


@pytest.mark.parametrize("command", ["beat_store_list", "beat_store_pause", "beat_store_check"])
def test_commands_on_an_unmigrated_database_say_to_migrate(tmp_path: Path, command: str) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "BEAT_STORE_DATABASE": "sqlite",
        "BEAT_STORE_SQLITE_PATH": str(tmp_path / "empty.sqlite3"),
    }
    args = [command, "some-name"] if command == "beat_store_pause" else [command]

    result = subprocess.run(
        [sys.executable, "-m", "django", *args], capture_output=True, text=True, env=env, check=False
    )

    assert result.returncode == 1
    assert "run `manage.py migrate`" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_check_knows_celerys_own_tasks_and_does_not_run_the_checks_inside_themselves() -> None:
    add_schedule("cleanup", "celery.backend_cleanup", {"type": "cron", "expression": "0 4 * * *"})
    add_schedule("adds", "tests.add", {"type": "interval", "seconds": 10})
    add_schedule("gone", "tests.gone", {"type": "interval", "seconds": 10})
    # As in a project whose proj/__init__.py imports its Celery app: Celery's Django fix-up is installed.
    script = (
        "import django, tests.celery_app; django.setup(); "
        "from django.core.management import call_command; call_command('check')"
    )

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=subprocess_environment(), check=False
    )

    assert "RecursionError" not in result.stderr
    assert "Exception ignored" not in result.stderr
    assert "(beat_store.W002) Schedules name task(s) the Celery app does not know: tests.gone." in result.stderr


# --- beat_store_export --format supervisord|systemd -----------------------------------------------------------


@pytest.fixture
def project_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment a project's manage.py runs in: its settings module, no CELERY_APP."""
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "tests.settings")
    monkeypatch.delenv("CELERY_APP", raising=False)


def test_export_supervisord_runs_this_project_with_this_python(project_environment: None) -> None:
    import configparser

    from tests import settings as test_settings

    parser = configparser.RawConfigParser()
    parser.read_string(run("beat_store_export", "--format", "supervisord", "--app", "tests.celery_app", "--beats", "2"))

    beat = parser["program:beat_store-beat"]
    assert beat["command"].startswith(f"{sys.executable} -m celery -A tests.celery_app beat -S beat_store.Scheduler")
    assert beat["numprocs"] == "2"
    assert beat["directory"] == str(test_settings.BASE_DIR)
    assert beat["environment"] == 'DJANGO_SETTINGS_MODULE="tests.settings"'
    assert parser["program:beat_store-worker"]["numprocs"] == "1"


def test_export_systemd_writes_one_file_per_unit_into_the_output_dir(project_environment: None, tmp_path: Path) -> None:
    folder = tmp_path / "units"

    output = run(
        "beat_store_export", "--format", "systemd", "--app", "tests.celery_app", "--user", "celery",
        "--output-dir", str(folder),
    )  # fmt: skip

    names = ["beat_store-beat@.service", "beat_store-worker@.service", "beat_store.target"]
    assert sorted(path.name for path in folder.iterdir()) == names
    assert output.splitlines() == [f"wrote {folder / name}" for name in names]
    beat = (folder / "beat_store-beat@.service").read_text()
    assert "\nUser=celery\n" in beat
    assert "\nEnvironment=DJANGO_SETTINGS_MODULE=tests.settings\n" in beat


def test_export_supervisord_to_a_file_with_output(project_environment: None, tmp_path: Path) -> None:
    path = tmp_path / "proj.conf"

    run("beat_store_export", "--format", "supervisord", "--app", "tests.celery_app", "--output", str(path))

    assert "[program:beat_store-beat]" in path.read_text()


def test_export_processes_writes_full_paths_for_a_bare_python_and_relative_folders(
    project_environment: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import configparser

    monkeypatch.chdir(tmp_path)
    python = Path(sys.executable)
    monkeypatch.setenv("PATH", str(python.parent))

    text = run(
        "beat_store_export", "--format", "supervisord", "--app", "tests.celery_app", "--python", python.name,
        "--directory", "project", "--log-dir", "logs",
    )  # fmt: skip

    parser = configparser.RawConfigParser()
    parser.read_string(text)
    beat = parser["program:beat_store-beat"]
    assert beat["command"].startswith(f"{python.parent / python.name} -m celery ")
    assert beat["directory"] == str(tmp_path / "project")
    assert beat["stdout_logfile"].startswith(f"{tmp_path / 'logs'}/")


def test_export_processes_finds_the_app_in_celery_app(
    project_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELERY_APP", "tests.celery_app")

    text = run("beat_store_export", "--format", "systemd")

    assert " -A tests.celery_app beat " in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "systemd"], "no Celery app found at 'tests'"),
        (["--format", "systemd", "--app", "tests.no_such_module"], "no Celery app found at 'tests.no_such_module'"),
        (["--format", "systemd", "--app", "tests.celery_app", "--beats", "-1"], "0 or more"),
        (["--format", "systemd", "--app", "tests.celery_app", "--python", "no-such-python3"], "no such program"),
        (["--format", "systemd", "--app", "tests.celery_app", "--output", "units.txt"], "use --output-dir"),
        (["--format", "supervisord", "--app", "tests.celery_app", "nightly"], "give no NAME"),
        (["--format", "json", "--app", "tests.celery_app"], "--app: only with --format supervisord"),
        (["--output-dir", "somewhere"], "--output-dir: only with --format supervisord"),
        (["--format", "supervisord", "--app", "tests.celery_app", "--output", "a", "--output-dir", "b"], "not both"),
    ],
    ids=[
        "an app that cannot be derived",
        "an app that does not exist",
        "a negative count",
        "a python not in PATH",
        "systemd into one file",
        "schedule names with processes",
        "process options with json",
        "an output folder with json",
        "both outputs",
    ],
)
def test_export_processes_refuses_bad_options_with_a_command_error(
    project_environment: None, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        run("beat_store_export", *args)


def test_export_processes_bad_option_exits_1_with_a_message_not_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "django", "beat_store_export", "--format", "systemd", "--app", "tests.celery_app",
         "--workers", "-2"],
        capture_output=True,
        text=True,
        env=subprocess_environment(),
        check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: --beats and --workers count processes: 0 or more"


SUPERDJANGO_INI = Path(__file__).parent.parent / "fixtures" / "superdjango_scheduler.ini"


def _superdjango_callback(doc: str) -> Callable[..., None]:
    """A callback as superdjango's docs write them (``**kwargs``), documented by ``doc``."""

    def callback(**kwargs: object) -> None:
        pass

    callback.__doc__ = doc
    return callback


@pytest.fixture
def superdjango_tasks() -> Iterator[None]:
    """The seed's callbacks as Celery tasks named by their dotted paths, except the nonexistent one."""
    names = {
        "example.scheduler.test_job": "Runs a test job.",
        "example.automation.inactive_job": "Is never run while inactive.",
        "example.scheduler.sunday_cleanup": "Cleans up on Sundays.",
        "myapp.scheduler.do_something_on_a_recurring_basis": "Does something on a recurring basis.\n\nDetails.",
    }
    for name, doc in names.items():
        celery_app.app.task(name=name, shared=False)(_superdjango_callback(doc))
    yield
    for name in names:
        celery_app.app.tasks.pop(name, None)


def test_superdjangos_example_ini_imports_as_written(superdjango_tasks: None) -> None:
    output = run("beat_store_import", str(SUPERDJANGO_INI))

    assert output.splitlines() == [
        "created: run a test job",
        "created: this job is inactive",
        "created: this job runs on sunday",
        "created: do something on a recurring basis",
        "skipped: this job should never make it to the scheduler: the task 'example.scheduler.nonexistent_job' "
        "is not registered in the Celery app; the section is left out",
        "Imported: 4 created, 0 updated, 0 unchanged.",
    ]
    schedules = {schedule.name: schedule for schedule in Schedule.objects.all()}
    test_job = schedules["run a test job"]
    assert (test_job.task, test_job.trigger, test_job.kwargs) == (
        "example.scheduler.test_job",
        validate_trigger_spec({"type": "interval", "seconds": 5}),
        {"testing": True},
    )
    assert test_job.description == "Runs a test job."  # no description in the section: the docstring's
    inactive = schedules["this job is inactive"]
    assert (inactive.paused, inactive.kwargs) == (True, {})
    sunday = schedules["this job runs on sunday"]
    assert (sunday.task, sunday.description) == ("example.scheduler.sunday_cleanup", "Cleans up on Sundays.")
    assert sunday.trigger == validate_trigger_spec(
        {"type": "cron", "day_of_week": "sun", "hour": "23", "minute": "30", "second": "0"}
    )
    assert sunday.next_fire_at is not None
    local = sunday.next_fire_at.astimezone(ZoneInfo(sunday.timezone or "UTC"))
    assert (local.isoweekday(), local.hour, local.minute) == (7, 23, 30)
    recurring = schedules["do something on a recurring basis"]
    assert recurring.description.startswith("It's good practice")  # a description given wins over the docstring
    assert recurring.trigger == validate_trigger_spec({"type": "interval", "minutes": 5})
    assert all(schedule.source == ScheduleSource.IMPORT for schedule in schedules.values())


def test_superdjangos_example_imported_twice_changes_nothing(superdjango_tasks: None) -> None:
    run("beat_store_import", str(SUPERDJANGO_INI))

    output = run("beat_store_import", str(SUPERDJANGO_INI))

    assert output.splitlines()[-1] == "Imported: 0 created, 0 updated, 4 unchanged."


def test_an_ini_import_without_a_celery_app_keeps_every_section_and_warns_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from beat_store.management.commands import beat_store_import

    only_celery = {name: task for name, task in celery_app.app.tasks.items() if name.startswith("celery.")}
    monkeypatch.setattr(beat_store_import, "registered_tasks", lambda: only_celery)
    path = tmp_path / "beat.ini"
    path.write_text("[a]\ncall = proj.missing\nevery = 1 hour\n\n[b]\ncall = proj.other\nevery = 2 hours\n")
    out, err = StringIO(), StringIO()

    call_command("beat_store_import", str(path), stdout=out, stderr=err)

    assert sorted(Schedule.objects.values_list("name", flat=True)) == ["a", "b"]
    assert err.getvalue().count("warning: the Celery app registers no tasks") == 1


def test_an_ini_mistake_names_the_file_section_and_key_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "beat.ini"
    path.write_text("[ok]\ncall = tests.add\nevery = 1 hour\n\n[bad]\ncall = tests.add\nevery = 1 hour\nactive = hmm\n")

    with pytest.raises(CommandError, match=rf"^{path}: \[bad\]: active = 'hmm' is not yes/no"):
        run("beat_store_import", str(path))

    assert not Schedule.objects.exists()


def test_json_imports_do_not_check_task_names(tmp_path: Path) -> None:
    path = _write_records(
        tmp_path / "s.json", {"name": "a", "task": "proj.not_here", "trigger": {"type": "interval", "hours": 1}}
    )

    run("beat_store_import", path)

    assert Schedule.objects.get(name="a").description == ""
