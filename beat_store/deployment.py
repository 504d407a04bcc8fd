"""Process definitions for supervisord and systemd: beats (``celery beat -S beat_store.Scheduler``) and workers.

What ``beat_store_export --format supervisord|systemd`` writes. Rendering is pure (no Django, no file system):
:class:`Deployment` says what to run and where, the command finds those values for the current project.

Several beats on one host are safe with beat_store (docs/spec.md rule 10). Each beat is started with
``--pidfile=`` (no pid file), so that they can share one working directory: a pid file there, from a Celery
configuration or version that writes one, would keep all but the first from starting.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath

#: Seconds a beat is given to finish its tick on SIGTERM before it is killed (a tick is bounded; see the spec).
BEAT_STOP_SECONDS = 60
#: Seconds a worker is given for its warm shutdown (it finishes the tasks it has started) before it is killed.
DEFAULT_WORKER_STOP_SECONDS = 600
#: The name prefix of programs and units; ``--name`` changes it (one per project on a shared host).
DEFAULT_NAME = "beat_store"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_APP = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(:[A-Za-z_][A-Za-z0-9_.]*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class DeploymentError(ValueError):
    """The values given cannot make a working definition (an empty app, a negative count, ...)."""


@dataclass(frozen=True)
class Deployment:
    """Everything a process definition needs: the command line and the environment it runs in."""

    app: str
    directory: str
    celery: Sequence[str]  # the command that is ``celery``: e.g. (sys.executable, "-m", "celery")
    environment: dict[str, str] = field(default_factory=dict)
    beats: int = 1
    workers: int = 1
    user: str | None = None
    log_dir: str | None = None
    name: str = DEFAULT_NAME
    worker_stop_seconds: int = DEFAULT_WORKER_STOP_SECONDS
    loglevel: str = "info"

    def __post_init__(self) -> None:
        if not _APP.match(self.app):
            raise DeploymentError(f"--app {self.app!r} is not a module path like 'proj' or 'proj.celery:app'")
        if not _NAME.match(self.name):
            raise DeploymentError(f"--name {self.name!r}: use letters, digits, '.', '_' and '-' only")
        if self.beats < 0 or self.workers < 0:
            raise DeploymentError("--beats and --workers count processes: 0 or more")
        if self.beats == 0 and self.workers == 0:
            raise DeploymentError("nothing to run: --beats and --workers are both 0")
        if self.worker_stop_seconds < 1:
            raise DeploymentError("--stop-timeout must be at least 1 second")
        if not PurePosixPath(self.directory).is_absolute():
            raise DeploymentError(f"--directory {self.directory!r} must be an absolute path")
        if self.log_dir is not None and not PurePosixPath(self.log_dir).is_absolute():
            raise DeploymentError(f"--log-dir {self.log_dir!r} must be an absolute path")
        for name, value in self.environment.items():
            if not _ENV_NAME.match(name) or "\n" in value:
                raise DeploymentError(f"cannot pass the environment variable {name!r} on one line")
        for value in (self.directory, self.log_dir or "", self.user or "", *self.celery):
            if "\n" in value or "\x00" in value:
                raise DeploymentError(f"{value!r}: a line break or NUL cannot go into a process definition")

    def beat_argv(self) -> list[str]:
        return [*self.celery, "-A", self.app, "beat", "-S", "beat_store.Scheduler", "-l", self.loglevel, "--pidfile="]

    def worker_argv(self) -> list[str]:
        """Without the node name (``-n``), which each format writes with its own process-number placeholder."""
        return [*self.celery, "-A", self.app, "worker", "-l", self.loglevel]


# --- supervisord ---------------------------------------------------------------------------------------------


def supervisord_escape(value: str) -> str:
    """supervisord expands ``%(name)s`` in its values: a literal ``%`` is written ``%%``."""
    return value.replace("%", "%%")


def _supervisord_command(argv: Sequence[str]) -> str:
    # supervisord splits ``command`` with shlex: shell quoting keeps a path with spaces one argument.
    return supervisord_escape(shlex.join(argv))


def _supervisord_environment(environment: dict[str, str]) -> str:
    # KEY="value" pairs, comma separated; the quotes keep commas, spaces and "#" in the value.
    return ",".join(f"{name}={_supervisord_quoted(name, value)}" for name, value in sorted(environment.items()))


def _supervisord_quoted(name: str, value: str) -> str:
    """supervisord reads ``environment=`` with a non-POSIX shlex: a quoted value ends at the next quote of its
    kind (no escapes; a backslash is itself), then loses any quote at either end. So a value is quoted with the
    quote it does not contain, and one that cannot be written so is refused rather than passed on changed."""
    for quote in ('"', "'"):
        if quote not in value and not value.startswith(("'", '"')) and not value.endswith(("'", '"')):
            return f"{quote}{supervisord_escape(value)}{quote}"
    raise DeploymentError(
        f"supervisord cannot pass {name}={value!r} in environment= (both quote kinds, or a quote at an end)"
    )


def render_supervisord(deployment: Deployment) -> str:
    """One supervisord file: a program per role, ``numprocs`` processes each, and a group to control them all.

    ``supervisorctl restart <name>:*`` restarts everything; ``<name>:<name>-beat_1`` one process.
    """
    sections = [
        f"; beat_store processes for the Celery app {deployment.app!r}, written by beat_store_export.\n"
        "; Install as /etc/supervisor/conf.d/<name>.conf, then: supervisorctl reread && supervisorctl update\n"
    ]
    programs = []
    if deployment.beats:
        programs.append(f"{deployment.name}-beat")
        sections.append(
            _supervisord_program(
                deployment,
                f"{deployment.name}-beat",
                _supervisord_command(deployment.beat_argv()),
                deployment.beats,
                BEAT_STOP_SECONDS,
            )
        )
    if deployment.workers:
        program = f"{deployment.name}-worker"
        programs.append(program)
        # supervisord gives each process its number; Celery then expands %h to the host name.
        command = f"{_supervisord_command(deployment.worker_argv())} -n {program}-%(process_num)d@%%h"
        sections.append(
            _supervisord_program(deployment, program, command, deployment.workers, deployment.worker_stop_seconds)
        )
    sections.append(f"[group:{deployment.name}]\nprograms={','.join(programs)}\n")
    return "\n".join(sections)


def _supervisord_program(
    deployment: Deployment,
    program: str,
    command: str,
    count: int,
    stop_seconds: int,
) -> str:
    lines = [
        f"[program:{program}]",
        f"command={command}",
        "process_name=%(program_name)s_%(process_num)d",
        f"numprocs={count}",
        "numprocs_start=1",
        f"directory={supervisord_escape(deployment.directory)}",
        "autostart=true",
        "autorestart=true",
        "startsecs=5",
        "stopsignal=TERM",
        # Celery's warm shutdown: the main process waits for its pool, so only it gets TERM; KILL, after
        # stopwaitsecs, goes to the whole group so no pool process is left behind.
        f"stopwaitsecs={stop_seconds}",
        "stopasgroup=false",
        "killasgroup=true",
    ]
    if deployment.user:
        lines.append(f"user={supervisord_escape(deployment.user)}")
    if deployment.environment:
        lines.append(f"environment={_supervisord_environment(deployment.environment)}")
    if deployment.log_dir:
        # supervisord expands a log file's name twice (as every value, then as a log file name): a literal %
        # is written %%%% to survive both.
        log = supervisord_escape(supervisord_escape(str(PurePosixPath(deployment.log_dir))))
        lines.append(f"stdout_logfile={log}/%(program_name)s_%(process_num)d.log")
        lines.append(f"stderr_logfile={log}/%(program_name)s_%(process_num)d.err.log")
    else:
        # Without --log-dir, supervisord's own AUTO log files (in its childlogdir); stderr with stdout.
        lines.append("stdout_logfile=AUTO")
        lines.append("redirect_stderr=true")
    return "\n".join(lines) + "\n"


# --- systemd -------------------------------------------------------------------------------------------------


def systemd_escape(value: str) -> str:
    """A literal value in a unit file: ``%`` starts a specifier (``%h`` is the user's home), so it is doubled."""
    return value.replace("%", "%%")


def _systemd_word(value: str, *, expands_variables: bool = True) -> str:
    """One argument of ``ExecStart=`` (or one assignment of ``Environment=``, which expands no ``$NAME``):
    systemd splits at spaces, reads double quotes with C escapes, and expands specifiers; a value needing any
    of that is quoted and escaped."""
    escaped = systemd_escape(value)
    if expands_variables:
        escaped = escaped.replace("$", "$$")
    if value and not re.search(r"[\s\"'\\;]", value):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _systemd_exec(argv: Sequence[str]) -> str:
    return " ".join(_systemd_word(word) for word in argv)


def render_systemd(deployment: Deployment) -> dict[str, str]:
    """Unit files by name: template units ``<name>-beat@.service`` and ``<name>-worker@.service`` (the instance
    is the process's number) and ``<name>.target``, which wants instances 1..N of each, so that
    ``systemctl enable --now <name>.target`` starts them all and starts them at boot."""
    units: dict[str, str] = {}
    wants = []
    if deployment.beats:
        unit = f"{deployment.name}-beat@.service"
        units[unit] = _systemd_service(deployment, "beat", _systemd_exec(deployment.beat_argv()), BEAT_STOP_SECONDS)
        wants += [f"{deployment.name}-beat@{number}.service" for number in range(1, deployment.beats + 1)]
    if deployment.workers:
        unit = f"{deployment.name}-worker@.service"
        # %i is the instance (the number), left for systemd to expand; %%h reaches Celery as %h, the host name.
        argv = f"{_systemd_exec(deployment.worker_argv())} -n {deployment.name}-worker-%i@%%h"
        units[unit] = _systemd_service(deployment, "worker", argv, deployment.worker_stop_seconds)
        wants += [f"{deployment.name}-worker@{number}.service" for number in range(1, deployment.workers + 1)]
    units[f"{deployment.name}.target"] = "\n".join(
        [
            _systemd_header(deployment),
            "[Unit]",
            f"Description=beat_store beats and workers of {systemd_escape(deployment.app)}",
            f"Wants={' '.join(wants)}",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )
    return units


def _systemd_header(deployment: Deployment) -> str:
    return (
        "# Written by beat_store_export. Copy to /etc/systemd/system/, then:\n"
        f"#   systemctl daemon-reload && systemctl enable --now {deployment.name}.target"
    )


def _systemd_service(deployment: Deployment, role: str, exec_line: str, stop_seconds: int) -> str:
    lines = [
        _systemd_header(deployment),
        "[Unit]",
        f"Description=Celery {role} %i of {systemd_escape(deployment.app)} (beat_store)",
        "After=network-online.target",
        "Wants=network-online.target",
        # Stopping or restarting the target stops or restarts every instance.
        f"PartOf={deployment.name}.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={exec_line}",
        f"WorkingDirectory={_systemd_path(deployment.directory)}",
    ]
    lines += [
        f"Environment={_systemd_word(f'{key}={value}', expands_variables=False)}"
        for key, value in sorted(deployment.environment.items())
    ]
    if deployment.user:
        lines.append(f"User={systemd_escape(deployment.user)}")
    lines += [
        "Restart=always",
        "RestartSec=5",
        "KillSignal=SIGTERM",
        # TERM to the main process only (Celery's warm shutdown waits for its pool); at the timeout, KILL to all.
        "KillMode=mixed",
        f"TimeoutStopSec={stop_seconds}",
    ]
    if deployment.log_dir:
        log = _systemd_path(str(PurePosixPath(deployment.log_dir)))
        lines.append(f"StandardOutput=append:{log}/{deployment.name}-{role}-%i.log")
        lines.append(f"StandardError=append:{log}/{deployment.name}-{role}-%i.err.log")
    lines += ["", "[Install]", f"WantedBy={deployment.name}.target", ""]
    return "\n".join(lines)


def _systemd_path(path: str) -> str:
    """A path setting (``WorkingDirectory=``, ``append:``) takes the rest of the line as it is, spaces included;
    only specifiers need escaping."""
    return systemd_escape(path)


def systemd_as_one_text(units: dict[str, str]) -> str:
    """Several units on standard output, each after a ``# ==> <file name> <==`` line (a comment in a unit)."""
    return "\n".join(f"# ==> {name} <==\n{text}" for name, text in units.items())


# --- the current project --------------------------------------------------------------------------------------


def derive_app(explicit: str | None, environ: Mapping[str, str]) -> str:
    """The Celery app to run: ``--app``, else ``CELERY_APP`` (the variable Celery's own command reads), else
    the top-level package of ``DJANGO_SETTINGS_MODULE`` (``proj.settings`` -> ``proj``), where Celery's
    documented Django layout defines it (``proj/celery.py``, found by ``celery -A proj``)."""
    if explicit:
        return explicit
    if environ.get("CELERY_APP"):
        return environ["CELERY_APP"]
    settings_module = environ.get("DJANGO_SETTINGS_MODULE", "")
    if "." in settings_module:
        return settings_module.split(".", 1)[0]
    raise DeploymentError(
        "cannot tell the Celery app from the settings module "
        f"({settings_module or 'DJANGO_SETTINGS_MODULE is not set'}); pass --app, e.g. --app proj"
    )


def derive_directory(explicit: str | None, base_dir: object, script: str, cwd: str) -> str:
    """The working directory: ``--directory``, else the ``BASE_DIR`` setting (Django's project template sets it
    to the folder of manage.py), else the folder of the manage.py being run, else the current directory."""
    if explicit:
        return str(PurePosixPath(explicit))
    if isinstance(base_dir, str | PurePath) and str(base_dir):
        return str(base_dir)
    if PurePath(script).name == "manage.py":
        return str(PurePath(cwd, script).parent)
    return cwd
