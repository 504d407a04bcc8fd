"""Process definitions (beat_store.deployment): supervisord and systemd text, read back the way each reads it."""

from __future__ import annotations

import configparser
import dataclasses
import os
import pwd
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from beat_store.deployment import (
    Deployment,
    DeploymentError,
    derive_app,
    derive_directory,
    render_supervisord,
    render_systemd,
    systemd_as_one_text,
)

#: Values that need quoting or escaping in both formats: spaces, %, $, a double quote, a backslash.
AWKWARD = Deployment(
    app="proj",
    directory="/srv/my project/100%",
    celery=("/opt/venv with space/bin/python", "-m", "celery"),
    environment={"DJANGO_SETTINGS_MODULE": "proj.settings", "MOTTO": 'say "hi" for 5$ 100% \\o/'},
    beats=2,
    workers=3,
    user="celery",
    log_dir="/var/log/proj 1%",
)


def deployment(**fields: Any) -> Deployment:
    values: dict[str, Any] = {"app": "proj", "directory": "/srv/proj", "celery": (sys.executable, "-m", "celery")}
    return Deployment(**{**values, **fields})


# --- supervisord ---------------------------------------------------------------------------------------------


def read_supervisord(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return parser


def expand(parser: configparser.RawConfigParser, section: str, key: str, number: int = 1) -> str:
    """A value as supervisord expands it for process ``number``: Python's ``%`` with its names (%% -> %)."""
    program = section.removeprefix("program:")
    return str(parser.get(section, key)) % {"program_name": program, "process_num": number, "here": "/etc"}


def test_supervisord_has_a_program_per_role_with_numprocs_and_a_group() -> None:
    parser = read_supervisord(render_supervisord(AWKWARD))

    assert parser.sections() == ["program:beat_store-beat", "program:beat_store-worker", "group:beat_store"]
    assert parser["program:beat_store-beat"]["numprocs"] == "2"
    assert parser["program:beat_store-worker"]["numprocs"] == "3"
    assert parser["group:beat_store"]["programs"] == "beat_store-beat,beat_store-worker"


def test_supervisord_commands_run_beat_with_the_scheduler_and_named_workers() -> None:
    parser = read_supervisord(render_supervisord(AWKWARD))

    beat = shlex.split(expand(parser, "program:beat_store-beat", "command"))
    worker = shlex.split(expand(parser, "program:beat_store-worker", "command", number=3))

    python = "/opt/venv with space/bin/python"
    assert beat == [
        python,
        "-m",
        "celery",
        "-A",
        "proj",
        "beat",
        "-S",
        "beat_store.Scheduler",
        "-l",
        "info",
        "--pidfile=",
    ]
    assert worker == [python, "-m", "celery", "-A", "proj", "worker", "-l", "info", "-n", "beat_store-worker-3@%h"]


def test_supervisord_stops_warmly_restarts_and_logs() -> None:
    parser = read_supervisord(render_supervisord(AWKWARD))
    beat, worker = "program:beat_store-beat", "program:beat_store-worker"

    for section in (beat, worker):
        assert parser[section]["autostart"] == parser[section]["autorestart"] == "true"
        assert parser[section]["stopsignal"] == "TERM"
        assert parser[section]["user"] == "celery"
        assert expand(parser, section, "directory") == "/srv/my project/100%"
    assert parser[beat].getint("stopwaitsecs") == 60
    assert parser[worker].getint("stopwaitsecs") == 600
    # Expanded twice by supervisord (see render_supervisord): once here, once more when used.
    assert expand(parser, worker, "stdout_logfile", 2) % {} == "/var/log/proj 1%/beat_store-worker_2.log"
    assert expand(parser, worker, "stderr_logfile", 2) % {} == "/var/log/proj 1%/beat_store-worker_2.err.log"


def supervisord_environment(value: str) -> dict[str, str]:
    """``environment=`` read as supervisord 4 reads it (supervisor.datatypes.dict_of_key_value_pairs): a
    non-POSIX shlex, whose quotes end at the next quote of their kind, then the quotes stripped."""
    lexer = shlex.shlex(value)
    lexer.wordchars += "/.+-():"
    tokens = list(lexer)
    assert all(tokens[i + 1] == "=" for i in range(0, len(tokens), 4)), tokens
    return {tokens[i]: tokens[i + 2].strip("'\"") for i in range(0, len(tokens), 4)}


def test_supervisord_environment_is_quoted_for_its_reading() -> None:
    parser = read_supervisord(render_supervisord(AWKWARD))

    environment = supervisord_environment(expand(parser, "program:beat_store-beat", "environment"))

    assert environment == {"DJANGO_SETTINGS_MODULE": "proj.settings", "MOTTO": 'say "hi" for 5$ 100% \\o/'}


@pytest.mark.parametrize("value", ['it\'s "both"', "'quoted at the start", 'quoted at the end"'])
def test_supervisord_refuses_an_environment_value_it_would_change(value: str) -> None:
    with pytest.raises(DeploymentError, match="supervisord cannot pass"):
        render_supervisord(deployment(environment={"A": value}))


def test_supervisord_itself_reads_the_programs(tmp_path: Path) -> None:
    options = pytest.importorskip("supervisor.options", reason="supervisor is not installed")
    config = tmp_path / "supervisord.conf"
    logs = tmp_path / "logs 1%"
    logs.mkdir()
    # supervisord looks the user up and checks the log folder: ones that exist.
    awkward = dataclasses.replace(AWKWARD, user=pwd.getpwuid(os.getuid()).pw_name, log_dir=str(logs))
    config.write_text(f"[supervisord]\nlogfile={tmp_path}/supervisord.log\n\n{render_supervisord(awkward)}")
    server = options.ServerOptions()

    server.realize(args=["-c", str(config)])

    groups = {group.name: group.process_configs for group in server.process_group_configs}
    assert [process.name for process in groups["beat_store"]] == [
        "beat_store-beat_1",
        "beat_store-beat_2",
        "beat_store-worker_1",
        "beat_store-worker_2",
        "beat_store-worker_3",
    ]
    worker = groups["beat_store"][4]
    assert shlex.split(worker.command)[-2:] == ["-n", "beat_store-worker-3@%h"]
    assert shlex.split(worker.command)[0] == "/opt/venv with space/bin/python"
    assert worker.directory == "/srv/my project/100%"
    assert worker.environment == {"DJANGO_SETTINGS_MODULE": "proj.settings", "MOTTO": 'say "hi" for 5$ 100% \\o/'}
    assert worker.stdout_logfile == f"{logs}/beat_store-worker_3.log"
    assert (worker.stopwaitsecs, worker.killasgroup, worker.stopasgroup) == (600, True, False)
    assert worker.uid == os.getuid()


def test_supervisord_without_a_log_dir_uses_its_own_log_files() -> None:
    parser = read_supervisord(render_supervisord(deployment()))

    assert parser["program:beat_store-beat"]["stdout_logfile"] == "AUTO"
    assert parser["program:beat_store-beat"]["redirect_stderr"] == "true"


def test_supervisord_leaves_out_a_role_with_no_process() -> None:
    parser = read_supervisord(render_supervisord(deployment(workers=0, name="proj")))

    assert parser.sections() == ["program:proj-beat", "group:proj"]


# --- systemd -------------------------------------------------------------------------------------------------


def read_unit(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(comment_prefixes=("#", ";"), strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # systemd's keys are case-sensitive
    parser.read_string(text)
    return parser


def systemd_words(line: str) -> list[str]:
    """ExecStart= as systemd splits it, for the quoting used here: quotes and backslashes, then %% and $$."""
    return [word.replace("%%", "%").replace("$$", "$") for word in shlex.split(line)]


def test_systemd_writes_two_templates_and_a_target_that_wants_each_instance() -> None:
    units = render_systemd(AWKWARD)

    assert list(units) == ["beat_store-beat@.service", "beat_store-worker@.service", "beat_store.target"]
    target = read_unit(units["beat_store.target"])
    assert target["Unit"]["Wants"].split() == [
        "beat_store-beat@1.service",
        "beat_store-beat@2.service",
        "beat_store-worker@1.service",
        "beat_store-worker@2.service",
        "beat_store-worker@3.service",
    ]
    assert target["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_services_restart_stop_warmly_and_belong_to_the_target() -> None:
    units = render_systemd(AWKWARD)

    for name, stop in (("beat_store-beat@.service", "60"), ("beat_store-worker@.service", "600")):
        unit = read_unit(units[name])
        assert unit["Unit"]["PartOf"] == "beat_store.target"
        assert unit["Install"]["WantedBy"] == "beat_store.target"
        service = unit["Service"]
        assert (service["Type"], service["Restart"], service["KillSignal"]) == ("simple", "always", "SIGTERM")
        assert service["KillMode"] == "mixed"
        assert service["TimeoutStopSec"] == stop
        assert service["User"] == "celery"
        assert service["WorkingDirectory"] == "/srv/my project/100%%"


def test_systemd_exec_start_quotes_paths_and_escapes_percent_and_dollar() -> None:
    units = render_systemd(AWKWARD)
    beat = read_unit(units["beat_store-beat@.service"])["Service"]
    worker = read_unit(units["beat_store-worker@.service"])["Service"]

    python = "/opt/venv with space/bin/python"
    assert systemd_words(beat["ExecStart"])[:3] == [python, "-m", "celery"]
    assert systemd_words(beat["ExecStart"])[3:] == [
        "-A",
        "proj",
        "beat",
        "-S",
        "beat_store.Scheduler",
        "-l",
        "info",
        "--pidfile=",
    ]
    # %i stays a specifier (the instance number); Celery gets %h, its host name placeholder.
    assert worker["ExecStart"].endswith(" -n beat_store-worker-%i@%%h")


def test_systemd_environment_is_one_line_per_variable_with_the_settings_module() -> None:
    text = render_systemd(AWKWARD)["beat_store-beat@.service"]

    lines = [line for line in text.splitlines() if line.startswith("Environment=")]

    assert lines == [
        "Environment=DJANGO_SETTINGS_MODULE=proj.settings",
        'Environment="MOTTO=say \\"hi\\" for 5$ 100%% \\\\o/"',
    ]


def test_systemd_log_dir_appends_to_a_file_per_instance() -> None:
    service = read_unit(render_systemd(AWKWARD)["beat_store-worker@.service"])["Service"]

    assert service["StandardOutput"] == "append:/var/log/proj 1%%/beat_store-worker-%i.log"
    assert service["StandardError"] == "append:/var/log/proj 1%%/beat_store-worker-%i.err.log"


def test_systemd_on_one_text_names_each_file_in_a_comment() -> None:
    units = render_systemd(deployment())

    text = systemd_as_one_text(units)

    assert [line for line in text.splitlines() if line.startswith("# ==> ")] == [f"# ==> {name} <==" for name in units]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    """systemd's own reading of keys, quoting and the executable. (It does not report a stray %: the tests
    above check that every % is doubled.)"""
    directory, logs = tmp_path / "project dir 100%", tmp_path / "logs 1%"
    directory.mkdir()
    logs.mkdir()
    units = render_systemd(
        deployment(
            directory=str(directory),
            celery=(sys.executable, "-m", "celery", "--workdir", "$HOME 100%"),
            beats=2,
            environment={"A": '1 2% "q" \\b $x'},
            log_dir=str(logs),
        )
    )
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    # verify needs instances of the templates: their files under an instance's name.
    for role in ("beat", "worker"):
        (tmp_path / f"beat_store-{role}@1.service").write_text(units[f"beat_store-{role}@.service"])

    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "beat_store-beat@1.service", "beat_store-worker@1.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert "ignoring" not in result.stderr.lower(), result.stderr


# --- values --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"app": ""}, "not a module path"),
        ({"app": "proj; rm -rf /"}, "not a module path"),
        ({"beats": -1}, "0 or more"),
        ({"beats": 0, "workers": 0}, "nothing to run"),
        ({"directory": "relative/path"}, "absolute"),
        ({"log_dir": "logs"}, "absolute"),
        ({"name": "my name"}, "--name"),
        ({"environment": {"A": "line\nbreak"}}, "one line"),
        ({"worker_stop_seconds": 0}, "--stop-timeout"),
    ],
    ids=[
        "an empty app",
        "an app that is no module path",
        "a negative count",
        "no process at all",
        "a relative directory",
        "a relative log folder",
        "a name with a space",
        "a line break in the environment",
        "no time to stop",
    ],
)
def test_values_that_cannot_make_a_working_definition_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(DeploymentError, match=message):
        deployment(**fields)


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        ("other.celery:app", {"CELERY_APP": "proj", "DJANGO_SETTINGS_MODULE": "proj.settings"}, "other.celery:app"),
        (None, {"CELERY_APP": "config.celery_app", "DJANGO_SETTINGS_MODULE": "config.settings"}, "config.celery_app"),
        (None, {"DJANGO_SETTINGS_MODULE": "proj.settings.production"}, "proj"),
    ],
    ids=["--app first", "then CELERY_APP", "then the settings module's top-level package"],
)
def test_the_app_is_derived_from_the_option_the_environment_or_the_settings(
    explicit: str | None, environ: dict[str, str], expected: str
) -> None:
    assert derive_app(explicit, environ) == expected


@pytest.mark.parametrize("environ", [{}, {"DJANGO_SETTINGS_MODULE": "settings"}], ids=["no settings", "top-level"])
def test_an_app_that_cannot_be_derived_asks_for_the_option(environ: dict[str, str]) -> None:
    with pytest.raises(DeploymentError, match="pass --app"):
        derive_app(None, environ)


@pytest.mark.parametrize(
    ("explicit", "base_dir", "script", "expected"),
    [
        ("/srv/given", Path("/srv/base"), "manage.py", "/srv/given"),
        (None, Path("/srv/base"), "/srv/elsewhere/manage.py", "/srv/base"),
        (None, None, "/srv/proj/manage.py", "/srv/proj"),
        (None, None, "manage.py", "/home/me"),
        (None, None, "/usr/bin/django-admin", "/home/me"),
    ],
    ids=["--directory first", "then BASE_DIR", "then manage.py's folder", "manage.py run from here", "else cwd"],
)
def test_the_directory_is_derived_from_the_option_base_dir_manage_py_or_cwd(
    explicit: str | None, base_dir: object, script: str, expected: str
) -> None:
    assert derive_directory(explicit, base_dir, script, "/home/me") == expected
