"""Create, migrate and drop the benchmark's own database, on PostgreSQL or MariaDB (never a shared one)."""

from __future__ import annotations

import psycopg
from django.conf import settings
from psycopg import sql


def _admin_connection() -> psycopg.Connection[tuple[object, ...]]:
    db = settings.DATABASES["default"]
    return psycopg.connect(host=db["HOST"], port=db["PORT"], user=db["USER"], dbname="postgres", autocommit=True)


def _name() -> str:
    name = str(settings.DATABASES["default"]["NAME"])
    if not name.startswith("bench_"):
        raise SystemExit(f"refusing to manage database {name!r}: the benchmark only owns names starting with 'bench_'")
    return name


def _mysql_admin(statement: str) -> None:
    import MySQLdb

    db = settings.DATABASES["default"]
    admin = MySQLdb.connect(host=db["HOST"], port=int(db["PORT"]), user=db["USER"])
    try:
        admin.cursor().execute(statement)
    finally:
        admin.close()


def create_database() -> None:
    """Create the database when missing, then apply every migration."""
    from django.core.management import call_command

    name = _name()
    if settings.DATABASE_KIND == "mysql":
        _mysql_admin(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
        call_command("migrate", verbosity=0, interactive=False)
        return
    with _admin_connection() as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    call_command("migrate", verbosity=0, interactive=False)


def drop_database() -> None:
    from django.db import connections

    connections.close_all()
    name = _name()
    if settings.DATABASE_KIND == "mysql":
        _mysql_admin(f"DROP DATABASE IF EXISTS `{name}`")
        return
    with _admin_connection() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
