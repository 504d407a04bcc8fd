"""Django settings of the benchmark: a dedicated PostgreSQL database and a dedicated Redis db.

Both are wiped by the harness, so they must never be shared: other engineers run tests on Redis dbs 14/15 and
PostgreSQL ``test_*`` databases. Override with ``BENCH_PG_NAME`` / ``BENCH_REDIS_URL`` if needed.
"""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django_celery_results",
    "django_celery_beat",
    "beat_store",
]


def _server_database(engine: str, prefix: str, *, user: str, port: str, **extra: object) -> dict[str, object]:
    """A database server's settings, each overridable by ``BENCH_<PREFIX>_<KEY>`` (NAME, USER, HOST, PORT)."""
    keys = {"NAME": "bench_beat_store", "USER": user, "HOST": "127.0.0.1", "PORT": port}
    return {
        "ENGINE": engine,
        **{key: os.environ.get(f"BENCH_{prefix}_{key}", value) for key, value in keys.items()},
        **extra,
    }


#: ``BENCH_DATABASE=mysql`` runs the same benchmark on MariaDB/MySQL (database ``bench_beat_store`` there too).
DATABASE_KIND = os.environ.get("BENCH_DATABASE", "postgres")
if DATABASE_KIND == "mysql":
    DATABASES = {
        "default": _server_database(
            "django.db.backends.mysql", "MYSQL", user="root", port="3306", OPTIONS={"charset": "utf8mb4"}
        )
    }
else:
    DATABASES = {"default": _server_database("django.db.backends.postgresql", "PG", user="postgres", port="5432")}
    # A diagnosis, never the default: BENCH_PG_SYNCHRONOUS_COMMIT=off makes this process's commits return before
    # the WAL is flushed to disk, to tell the cost of a commit's flush from the rest (bench.workers_e2e write-back).
    SYNCHRONOUS_COMMIT = os.environ.get("BENCH_PG_SYNCHRONOUS_COMMIT")
    if SYNCHRONOUS_COMMIT:
        DATABASES["default"]["OPTIONS"] = {"options": f"-c synchronous_commit={SYNCHRONOUS_COMMIT}"}

# Another diagnosis: BENCH_CONN_MAX_AGE (seconds, or ``none`` for connections kept for ever) instead of Django's
# default of 0, which closes a connection whenever Django's close_if_unusable_or_obsolete() is called.
CONN_MAX_AGE = os.environ.get("BENCH_CONN_MAX_AGE")
if CONN_MAX_AGE:
    DATABASES["default"]["CONN_MAX_AGE"] = None if CONN_MAX_AGE == "none" else int(CONN_MAX_AGE)

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")

CELERY_BROKER_URL = REDIS_URL
CELERY_TIMEZONE = "UTC"
CELERY_TASK_IGNORE_RESULT = True
# redbeat keeps its schedule in Redis: the same dedicated db, under its own prefix.
CELERY_REDBEAT_REDIS_URL = REDIS_URL
CELERY_REDBEAT_KEY_PREFIX = "bench_redbeat:"

# Every peer runs with its out-of-the-box timing settings (django-celery-beat: 5 s max loop interval,
# redbeat: 300 s); beat_store with its default 1 s poll cap.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# beat_store's defaults, unless a run asks otherwise (a 1,000,000 herd needs longer than 30 s to be decided ahead).
if "BENCH_PREPARE_AHEAD" in os.environ:
    BEAT_STORE_PREPARE_AHEAD = float(os.environ["BENCH_PREPARE_AHEAD"])
