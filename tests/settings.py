"""Test settings. Environment variables switch the real services in:

- ``BEAT_STORE_DATABASE=postgres`` (default ``sqlite``): PostgreSQL on ``BEAT_STORE_PG_HOST`` (127.0.0.1:5432,
  trust auth, user ``postgres``).
- ``BEAT_STORE_BROKER_URL`` (default ``memory://``): e.g. ``redis://127.0.0.1:6379/15``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_results",
    "beat_store",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "/static/"

# Several processes (beat, worker, web) write to one SQLite file: wait for the lock, and take it at BEGIN
# (Django 5.1+) so two beats serialise instead of failing a read-then-write upgrade.
SQLITE_OPTIONS: dict[str, object] = {"timeout": 30}
if django.VERSION >= (5, 1):
    SQLITE_OPTIONS["transaction_mode"] = "IMMEDIATE"

DATABASE_KIND = os.environ.get("BEAT_STORE_DATABASE", "sqlite")
if DATABASE_KIND == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BEAT_STORE_PG_NAME", "beat_store"),
            "USER": os.environ.get("BEAT_STORE_PG_USER", "postgres"),
            "HOST": os.environ.get("BEAT_STORE_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BEAT_STORE_PG_PORT", "5432"),
            "TEST": {"NAME": os.environ.get("BEAT_STORE_PG_TEST_NAME", "test_beat_store")},
        }
    }
elif DATABASE_KIND == "mysql":  # MariaDB >= 10.6 or MySQL >= 8.0, through mysqlclient (the `mysql` extra)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("BEAT_STORE_MYSQL_NAME", "beat_store"),
            "USER": os.environ.get("BEAT_STORE_MYSQL_USER", "root"),
            "HOST": os.environ.get("BEAT_STORE_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BEAT_STORE_MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {
                "NAME": os.environ.get("BEAT_STORE_MYSQL_TEST_NAME", "test_beat_store"),
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            },
        }
    }
elif DATABASE_KIND == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BEAT_STORE_SQLITE_PATH", str(BASE_DIR / "test.sqlite3")),
            "OPTIONS": SQLITE_OPTIONS,
            # A file, not memory: integration tests share it with real beat/worker subprocesses.
            "TEST": {"NAME": os.environ.get("BEAT_STORE_SQLITE_TEST_PATH", str(BASE_DIR / "test-db.sqlite3"))},
        }
    }
else:
    raise RuntimeError(f"BEAT_STORE_DATABASE must be 'sqlite', 'postgres' or 'mysql', not {DATABASE_KIND!r}")

CELERY_BROKER_URL = os.environ.get("BEAT_STORE_BROKER_URL", "memory://")
# The database-outage test runs a worker without it ("disabled"): the result backend writes the database too.
CELERY_RESULT_BACKEND = os.environ.get("BEAT_STORE_TEST_RESULT_BACKEND", "django-db")
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = False

# django-celery-beat (test extra) provides the tables `beat_store_import --from django-celery-beat` reads.
try:
    import django_celery_beat  # noqa: F401
except ImportError:
    pass
else:
    INSTALLED_APPS.append("django_celery_beat")

# High-availability tests shorten the lease so a survivor re-sends a dead beat's runs within seconds.
BEAT_STORE_LEASE_SECONDS = float(os.environ.get("BEAT_STORE_LEASE_SECONDS", "30"))

# Wake-up tests run beats that poll rarely (BEAT_STORE_MAX_POLL_INTERVAL) and are woken by NOTIFY or pub/sub.
BEAT_STORE_WAKEUPS = os.environ.get("BEAT_STORE_WAKEUPS") or None
BEAT_STORE_MAX_POLL_INTERVAL = float(os.environ.get("BEAT_STORE_MAX_POLL_INTERVAL", "1"))
# The mid-herd kill test has one beat claim a whole herd in one batch, so it is killed with runs in flight.
BEAT_STORE_BATCH_SIZE = int(os.environ.get("BEAT_STORE_BATCH_SIZE", "500"))

# Tests of the path that decides runs at their fire time turn deciding ahead off in the beats they start.
BEAT_STORE_PREPARE_AHEAD = float(os.environ.get("BEAT_STORE_PREPARE_AHEAD", "30"))

# Crashed-worker tests check which tasks the workers run every second instead of every 30 s.
BEAT_STORE_WORKER_CHECK_INTERVAL = float(os.environ.get("BEAT_STORE_WORKER_CHECK_INTERVAL", "30"))

# Beat-side tests of bad declarations give their beat process schedules in settings, as JSON.
BEAT_STORE_SCHEDULES = json.loads(os.environ.get("BEAT_STORE_TEST_SCHEDULES", "{}"))
# The schedule-file test gives its beat process BEAT_STORE_SCHEDULE_FILES, as a JSON list of paths.
BEAT_STORE_SCHEDULE_FILES = json.loads(os.environ.get("BEAT_STORE_TEST_SCHEDULE_FILES", "[]"))
# The per-app declaration test has its beat import a task module that calls add_periodic_task, as autodiscovery would.
if os.environ.get("BEAT_STORE_TEST_PER_APP_TASKS"):
    CELERY_IMPORTS = ("tests.per_app_tasks",)
