"""Wake-ups: a saved or deleted schedule tells sleeping beats to look now instead of at their next poll.

Optional, set by ``BEAT_STORE_WAKEUPS``:

- ``"postgres"``: ``NOTIFY`` on the default database (sent with the saving transaction's commit, so a beat never
  wakes before the change is visible), each beat ``LISTEN``\\s on a connection of its own;
- ``"redis://host:port/db"``: Redis pub/sub, published right after the commit;
- unset (the default): polling only.

Polling (``BEAT_STORE_MAX_POLL_INTERVAL``) stays on either way. A wake-up is a hint, never the only way a change is
seen: ``QuerySet.update()`` and raw SQL send none, and a beat that is reconnecting its listener misses some.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis
from django.db import connection, transaction

from beat_store.conf import settings

logger = logging.getLogger(__name__)

#: The PostgreSQL channel and the Redis pub/sub channel.
CHANNEL = "beat_store_wakeup"
POSTGRES = "postgres"


class Listener(Protocol):
    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds; True when woken by a notification (all pending ones are consumed)."""

    def close(self) -> None: ...


def configured_kind() -> str | None:
    """``"postgres"``, a Redis URL, or None; raises ``ValueError`` for anything else."""
    value = settings.WAKEUPS
    if not value:
        return None
    if value == POSTGRES or value.startswith(("redis://", "rediss://", "unix://")):
        return value
    raise ValueError(f"BEAT_STORE_WAKEUPS must be 'postgres' or a redis:// URL, not {value!r}")


def notify_schedules_changed(**_: Any) -> None:
    """Signal receiver for Schedule saves and deletes: wake the beats, if wake-ups are configured."""
    kind = configured_kind()
    if kind is None:
        return
    if kind == POSTGRES:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, '')", [CHANNEL])
        return
    transaction.on_commit(lambda: _publish_to_redis(kind))


def _publish_to_redis(url: str) -> None:
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.publish(CHANNEL, b"")
        finally:
            client.close()
    except redis.RedisError as error:  # a lost hint costs at most one poll interval: never fail the save for it
        logger.warning("beat_store: could not wake the beats through Redis: %s", error, extra={"action": "wakeup"})


def open_listener() -> Listener | None:
    """The listener this process's beat waits on, or None when wake-ups are not configured."""
    kind = configured_kind()
    if kind is None:
        return None
    if kind == POSTGRES:
        return PostgresListener()
    return RedisListener(kind)


class PostgresListener:
    """``LISTEN`` on a dedicated autocommit connection with the default database's parameters."""

    def __init__(self) -> None:
        import psycopg

        if connection.vendor != "postgresql":
            raise ValueError("BEAT_STORE_WAKEUPS = 'postgres' needs PostgreSQL as the default database")
        self._connection = psycopg.connect(**connection.get_connection_params(), autocommit=True)
        self._connection.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        # notifies(timeout=..., stop_after=...) is psycopg >= 3.2 (the `postgres` extra requires it).
        woken = any(True for _ in self._connection.notifies(timeout=timeout, stop_after=1))
        if woken:  # several saves in a row are one wake-up
            for _ in self._connection.notifies(timeout=0):
                pass
        return woken

    def close(self) -> None:
        self._connection.close()


class RedisListener:
    """A Redis pub/sub subscription to :data:`CHANNEL`."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, socket_connect_timeout=5)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(CHANNEL)

    def wait(self, timeout: float) -> bool:
        woken = self._pubsub.get_message(timeout=timeout) is not None
        while woken and self._pubsub.get_message(timeout=0) is not None:
            pass
        return woken

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


class WakeupWaiter:
    """How a beat sleeps between ticks when wake-ups are configured: on its listener instead of in Celery's loop.

    A listener that fails is dropped (the beat keeps polling) and opened again ``retry_after`` seconds later;
    one that cannot be opened is retried on the same terms. Without wake-ups configured it does nothing.
    """

    def __init__(
        self,
        *,
        retry_after: Callable[[], float],
        opener: Callable[[], Listener | None] = open_listener,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retry_after = retry_after
        self._opener = opener
        self._clock = clock
        self._listener: Listener | None = None
        self._next_attempt = 0.0

    def sleep(self, seconds: float) -> float:
        """Wait up to ``seconds`` on the listener; return how long Celery's loop should still sleep.

        With a listener: 0 (the wait is done, or a wake-up cut it short). Without one: ``seconds`` unchanged.
        """
        listener = self._current()
        if listener is None or seconds <= 0:
            return seconds
        try:
            listener.wait(seconds)
        except Exception as error:  # psycopg/redis errors: lose the hint, keep polling
            logger.warning(
                "beat_store: wake-up listener failed, polling until it is back: %s", error, extra={"action": "wakeup"}
            )
            self.close()
            return min(seconds, 0.5)
        return 0.0

    def close(self) -> None:
        if self._listener is None:
            return
        try:
            self._listener.close()
        except Exception:  # already broken: nothing more to release
            logger.debug("beat_store: closing the wake-up listener failed", exc_info=True)
        self._listener = None

    def _current(self) -> Listener | None:
        if self._listener is None and self._clock() >= self._next_attempt:
            self._next_attempt = self._clock() + self._retry_after()
            try:
                self._listener = self._opener()
            except Exception as error:  # a listener that cannot connect must not stop beat: it still polls
                logger.warning(
                    "beat_store: cannot listen for wake-ups, polling only: %s", error, extra={"action": "wakeup"}
                )
        return self._listener
