"""Django system checks of beat_store.

======================  =====================================================================================
id                      what it means
======================  =====================================================================================
``beat_store.E001``     ``USE_TZ`` is off: fire times are aware datetimes.
``beat_store.E002``     Celery's beat scheduler is ``beat_store...`` but ``beat_store`` is not in
                        ``INSTALLED_APPS``.
``beat_store.W001``     Celery's ``timezone`` and Django's ``TIME_ZONE`` disagree: schedules that name no zone
                        follow Celery's, the admin shows Django's.
``beat_store.W002``     Schedules name tasks the Celery app does not know (silence with
                        ``BEAT_STORE_ALLOW_UNREGISTERED_TASKS = True`` when only some workers import them).
``beat_store.W003``     The worker-side receivers are not connected: executions would stay ``sent``.
``beat_store.E003``     ``BEAT_STORE_WAKEUPS`` is neither ``"postgres"`` nor a ``redis://`` URL, or is
                        ``"postgres"`` while the default database is not PostgreSQL.
``beat_store.E004``     The database cannot run beat_store: a backend other than PostgreSQL, SQLite or MySQL, or
                        MariaDB < 10.6 / MySQL < 8.0 (no ``SKIP LOCKED``). Names the version found.
``beat_store.W004``     A retired ``BEAT_STORE_*`` setting is still set (``BEAT_STORE_PLAN_AHEAD``): it has no effect.
``beat_store.W005``     A SQLite database has no ``timeout`` option, or (Django 5.1+) no
                        ``transaction_mode = "IMMEDIATE"``: beat, workers and the admin writing to one file then
                        fail with ``database is locked``.
``beat_store.W006``     A file listed in ``BEAT_STORE_SCHEDULE_FILES`` does not exist (or is not a file): beat
                        logs it and keeps the schedules stored from it. Names the path as resolved.
``beat_store.E005``     ``BEAT_STORE_TASK_DEFAULTS`` is malformed (an unknown field, a value out of range): names
                        the entry and the field. Beat does not start with it.
======================  =====================================================================================

No check may crash ``manage.py check``: the one that reads the database skips silently while the tables do not
exist yet (before ``migrate``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import django
from celery import current_app
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import DatabaseError, connection, connections

from beat_store import receivers, task_defaults, wakeups
from beat_store.conf import settings as beat_store_settings
from beat_store.db.support import SUPPORTED, unsupported_reason
from beat_store.models import Schedule
from beat_store.schedule_files import listed_paths

logger = logging.getLogger(__name__)


def check_use_tz(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if getattr(settings, "USE_TZ", True):
        return []
    return [
        checks.Error(
            "beat_store needs USE_TZ = True: fire times are aware datetimes.",
            hint="Set USE_TZ = True in your settings.",
            id="beat_store.E001",
        )
    ]


def check_installed_when_used(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:

    scheduler = configured_beat_scheduler()
    if "beat_store" not in scheduler or apps.is_installed("beat_store"):
        return []
    return [
        checks.Error(
            f"Celery beat uses {scheduler!r}, but 'beat_store' is not in INSTALLED_APPS.",
            hint="Add 'beat_store' to INSTALLED_APPS and run `manage.py migrate`.",
            id="beat_store.E002",
        )
    ]


def check_time_zones_agree(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    celery_zone = _celery_conf_value("timezone", "CELERY_TIMEZONE")
    django_zone = getattr(settings, "TIME_ZONE", None)
    if not celery_zone or not django_zone or str(celery_zone) == str(django_zone):
        return []
    return [
        checks.Warning(
            f"Celery's timezone ({celery_zone}) differs from TIME_ZONE ({django_zone}).",
            hint=(
                "Schedules that name no zone follow Celery's timezone. Make both settings the same, or set "
                "BEAT_STORE_DEFAULT_TIMEZONE to the zone you mean."
            ),
            id="beat_store.W001",
        )
    ]


def check_tasks_known(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:

    if beat_store_settings.ALLOW_UNREGISTERED_TASKS:
        return []
    if getattr(current_app.loader, "worker_initialized", False):
        # Inside a booting worker/beat, Celery's Django fixup runs the checks while it imports the task
        # modules: touching the registry then would finalize the app half-loaded and lose its tasks.
        return []
    if _importing_task_modules:
        # A check run started by the import of the task modules below (see known_task_names).
        return []
    scheduled = scheduled_task_names()
    if not scheduled:
        return []
    unknown = sorted(scheduled - known_task_names())
    if not unknown:
        return []
    return [
        checks.Warning(
            f"Schedules name task(s) the Celery app does not know: {', '.join(unknown)}.",
            hint=(
                "Fix the task names, make the Celery app import those tasks, or set "
                "BEAT_STORE_ALLOW_UNREGISTERED_TASKS = True if only some workers know them."
            ),
            id="beat_store.W002",
        )
    ]


def check_receivers_connected(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:

    if receivers.is_connected():
        return []
    return [
        checks.Warning(
            "beat_store's worker-side receivers are not connected: executions will not leave 'sent'.",
            hint="Keep 'beat_store' in the worker's INSTALLED_APPS: its AppConfig.ready() connects them.",
            id="beat_store.W003",
        )
    ]


def check_wakeups(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:

    try:
        kind = wakeups.configured_kind()
    except ValueError as error:
        problem = str(error)
    else:
        if kind != wakeups.POSTGRES or connection.vendor == "postgresql":
            return []
        problem = f"BEAT_STORE_WAKEUPS = 'postgres' needs PostgreSQL, but the default database is {connection.vendor}"
    return [
        checks.Error(
            problem,
            hint="Use 'postgres' with a PostgreSQL database, a redis:// URL, or remove the setting to poll only.",
            id="beat_store.E003",
        )
    ]


def check_database_supported(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for alias in connections:
        try:
            reason = unsupported_reason(connections[alias])
        except DatabaseError as error:  # unreachable: `check` must not need the server; beat checks again
            logger.debug("beat_store: database %r not checked, unreachable: %s", alias, error)
            continue
        if reason is not None:
            messages.append(
                checks.Error(
                    f"Database {alias!r}: {reason}.",
                    hint=f"beat_store supports {SUPPORTED}.",
                    id="beat_store.E004",
                )
            )
    return messages


def check_sqlite_locking(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:

    return [
        message
        for alias in connections
        if connections[alias].vendor == "sqlite"
        for message in sqlite_locking_warnings(alias, connections[alias].settings_dict)
    ]


def sqlite_locking_warnings(
    alias: str, settings_dict: Mapping[str, Any], *, django_version: tuple[Any, ...] = django.VERSION
) -> list[checks.CheckMessage]:
    """What a SQLite database shared by beat, workers and the web processes lacks to wait for its lock."""
    name = str(settings_dict.get("NAME") or "")
    if name == ":memory:" or "mode=memory" in name:
        return []  # one process only
    options = settings_dict.get("OPTIONS") or {}
    missing = []
    if "timeout" not in options:
        missing.append('"timeout": 20')
    if django_version >= (5, 1) and str(options.get("transaction_mode", "")).upper() != "IMMEDIATE":
        # Without it a transaction that reads then writes upgrades its lock late and fails at once, timeout or not.
        missing.append('"transaction_mode": "IMMEDIATE"')
    if not missing:
        return []
    return [
        checks.Warning(
            f"The SQLite database {alias!r} lacks {' and '.join(missing)} in its OPTIONS: beat, workers and the "
            "admin write to one file and would fail with 'database is locked'.",
            hint=f'Add {", ".join(missing)} to DATABASES[{alias!r}]["OPTIONS"], or use PostgreSQL.',
            id="beat_store.W005",
        )
    ]


def check_retired_settings(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:

    return [
        checks.Warning(
            f"{name} is no longer used and has no effect.",
            hint="Remove it from your settings (see the changelog for what replaced it).",
            id="beat_store.W004",
        )
        for name in beat_store_settings.RETIRED
    ]


def check_schedule_files_exist(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Warning(
            f"BEAT_STORE_SCHEDULE_FILES lists {path}, which does not exist or is not a file.",
            hint="Create it, or fix the path (relative paths count from BASE_DIR, else the current directory).",
            id="beat_store.W006",
        )
        for path in listed_paths()
        if not path.is_file()
    ]


def check_task_defaults(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    return [
        checks.Error(
            f"BEAT_STORE_TASK_DEFAULTS: {problem}.",
            hint="See docs/reference/settings.md; beat does not start until it is fixed.",
            id="beat_store.E005",
        )
        for problem in task_defaults.problems(beat_store_settings.TASK_DEFAULTS)
    ]


def configured_beat_scheduler() -> str:
    """The beat scheduler Celery is configured with, as a dotted path ('' when none is set)."""
    value = _celery_conf_value("beat_scheduler", "CELERY_BEAT_SCHEDULER")
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return f"{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', '')}"


def scheduled_task_names() -> set[str]:
    """Distinct task names of the stored schedules; empty while the table does not exist or is unreachable."""

    try:
        return set(Schedule.objects.values_list("task", flat=True).distinct())
    except DatabaseError as error:
        logger.debug("beat_store: task check skipped, schedules unreadable: %s", error)
        return set()


def known_task_names() -> set[str]:
    """Names of the tasks the current Celery app registers once its task modules are imported."""

    global _importing_task_modules
    _importing_task_modules = True
    try:
        with celery_django_checks_skipped():
            current_app.loader.import_default_modules()
    except Exception as error:  # a broken task module must not crash `manage.py check`
        logger.debug("beat_store: importing the task modules failed: %s", error)
    finally:
        _importing_task_modules = False
    return set(current_app.tasks.keys())


#: True while ``known_task_names`` imports the task modules: a check run started from inside (by a Celery
#: version that ignores ``CELERY_SKIP_CHECKS``) must not import them again, or the two recurse until Python stops,
#: nor judge the tasks from a registry still being filled.
_importing_task_modules = False


@contextmanager
def celery_django_checks_skipped() -> Iterator[None]:
    """Celery's Django fix-up answers the ``import_modules`` signal by running every system check again, so
    importing the task modules from a check would run the checks inside the checks. ``CELERY_SKIP_CHECKS``
    is the fix-up's own switch to skip that run."""
    previous = os.environ.get(_SKIP_CHECKS)
    os.environ[_SKIP_CHECKS] = "1"
    try:
        yield
    finally:
        if previous is None:
            del os.environ[_SKIP_CHECKS]
        else:
            os.environ[_SKIP_CHECKS] = previous


_SKIP_CHECKS = "CELERY_SKIP_CHECKS"


def _celery_conf_value(celery_key: str, django_setting: str) -> Any:
    """A Celery setting as the project configures it: Django's ``CELERY_*`` setting first, then the app."""
    explicit = getattr(settings, django_setting, None)
    if explicit:
        return explicit

    return current_app.conf.get(celery_key)


def register() -> None:
    checks.register(check_use_tz, checks.Tags.compatibility)
    checks.register(check_installed_when_used, checks.Tags.compatibility)
    checks.register(check_time_zones_agree, checks.Tags.compatibility)
    checks.register(check_tasks_known, checks.Tags.compatibility)
    checks.register(check_receivers_connected, checks.Tags.compatibility)
    checks.register(check_wakeups, checks.Tags.compatibility)
    checks.register(check_database_supported, checks.Tags.compatibility)
    checks.register(check_sqlite_locking, checks.Tags.compatibility)
    checks.register(check_retired_settings, checks.Tags.compatibility)
    checks.register(check_schedule_files_exist, checks.Tags.compatibility)
    checks.register(check_task_defaults, checks.Tags.compatibility)
