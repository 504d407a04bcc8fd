"""Dropping a database connection that broke, on any vendor."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


def drop_connection() -> None:
    """Close the default connection, broken or not; the next query opens a fresh one.

    Closing one the server already dropped raises on MySQL (error 2006); Django forgets it either way.
    """
    try:
        connection.close()
    except DatabaseError as error:
        logger.debug("beat_store: closing a broken connection: %s", error)
