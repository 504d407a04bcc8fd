"""What integration tests do to the database server behind beat's back, per vendor."""

from __future__ import annotations

from django.db import DatabaseError, connection


def terminate_other_connections() -> int:
    """Cut every other connection to the test database (beat's), as a failover or an admin would; returns how
    many were cut. PostgreSQL: ``pg_terminate_backend``; MySQL/MariaDB: ``KILL``."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            return sum(1 for (done,) in cursor.fetchall() if done)
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM information_schema.PROCESSLIST WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            )
            ids = [row[0] for row in cursor.fetchall()]
            killed = 0
            for connection_id in ids:
                try:
                    cursor.execute(f"KILL {int(connection_id)}")
                except DatabaseError:  # it closed on its own meanwhile
                    continue
                killed += 1
            return killed
    raise NotImplementedError(f"no way to cut connections on {connection.vendor}")
