"""Which databases beat_store runs on, and the versions it needs.

Beat's claims need ``SELECT ... FOR UPDATE SKIP LOCKED`` (or SQLite's single writer): PostgreSQL and SQLite as
Django supports them, MariaDB from 10.6 and MySQL from 8.0. Anything else (MySQL 5.7, MariaDB 10.5, Oracle, a
third-party backend) is refused by the system check ``beat_store.E004`` and when beat starts, rather than
running ticks that fail forever.
"""

from __future__ import annotations

from typing import Any

from beat_store.exceptions import BeatStoreError

SUPPORTED = "PostgreSQL, SQLite, MariaDB >= 10.6 or MySQL >= 8.0"
MINIMUM_MARIADB = (10, 6)
MINIMUM_MYSQL = (8, 0)


class UnsupportedDatabase(BeatStoreError):
    """The database (or its version) cannot run beat_store."""


def unsupported_reason(connection: Any) -> str | None:
    """Why beat_store cannot run on ``connection``'s database, or None when it can.

    Reads the server version on MySQL/MariaDB (Django caches it per connection); ``DatabaseError`` propagates
    when the server cannot be reached.
    """
    vendor = connection.vendor
    if vendor in ("postgresql", "sqlite"):
        return None
    if vendor != "mysql":
        return f"the {vendor!r} database backend ({connection.settings_dict.get('ENGINE')}) is not supported"
    found = tuple(connection.mysql_version[:2])
    if connection.mysql_is_mariadb:
        name, minimum = "MariaDB", MINIMUM_MARIADB
    else:
        name, minimum = "MySQL", MINIMUM_MYSQL
    if found >= minimum:
        return None
    version = ".".join(str(part) for part in connection.mysql_version[:3])
    return f"{name} {version} is too old: it has no SELECT ... SKIP LOCKED"


def ensure_supported(connection: Any) -> None:
    """Raise :class:`UnsupportedDatabase` naming what was found and what is supported."""
    reason = unsupported_reason(connection)
    if reason is not None:
        raise UnsupportedDatabase(f"{reason}; beat_store supports {SUPPORTED}")
