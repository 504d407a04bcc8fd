"""Example project settings.

Defaults need no server at all: SQLite and kombu's filesystem transport (beat and worker exchange messages through
files under ``var/``). Environment variables switch to real services:

- ``EXAMPLE_DATABASE=postgres`` (with ``EXAMPLE_PG_NAME``, ``EXAMPLE_PG_HOST``, ``EXAMPLE_PG_USER``): PostgreSQL.
- ``EXAMPLE_DATABASE=mysql`` (with ``EXAMPLE_MYSQL_NAME``, ``EXAMPLE_MYSQL_HOST``, ``EXAMPLE_MYSQL_USER``): MariaDB
  or MySQL 8.
- ``CELERY_BROKER_URL=redis://127.0.0.1:6379/0`` or ``amqp://guest:guest@127.0.0.1:5672//``: Redis or RabbitMQ.
"""

from __future__ import annotations

import os
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EXAMPLE_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = os.environ.get("EXAMPLE_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("EXAMPLE_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True
TIME_ZONE = "Europe/Paris"
ROOT_URLCONF = "proj.urls"
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
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

if os.environ.get("EXAMPLE_DATABASE", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("EXAMPLE_PG_NAME", "beat_store_example"),
            "USER": os.environ.get("EXAMPLE_PG_USER", "postgres"),
            "HOST": os.environ.get("EXAMPLE_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("EXAMPLE_PG_PORT", "5432"),
        }
    }
elif os.environ.get("EXAMPLE_DATABASE") == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": os.environ.get("EXAMPLE_MYSQL_NAME", "beat_store_example"),
            "USER": os.environ.get("EXAMPLE_MYSQL_USER", "root"),
            "HOST": os.environ.get("EXAMPLE_MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("EXAMPLE_MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "example.sqlite3"),
            # beat, worker and the admin write to one file: wait for the lock instead of failing.
            "OPTIONS": SQLITE_OPTIONS,
        }
    }

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker"
    (_queue_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "beat_store.Scheduler"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# Declared in settings: synced into the table (source "settings") each time beat starts.
CELERY_BEAT_SCHEDULE = {
    "heartbeat-from-celery-settings": {"task": "demo.tasks.quick", "schedule": 30.0, "args": ("settings",)},
}
BEAT_STORE_SCHEDULES = {
    "weekday-report": {
        "task": "demo.tasks.quick",
        "trigger": {"type": "cron", "day_of_week": "mon-fri", "hour": "9", "minute": "0"},
        "kwargs": {"label": "weekday report"},
        "description": "Declared in BEAT_STORE_SCHEDULES.",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "[%(asctime)s: %(levelname)s/%(name)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {"beat_store": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
