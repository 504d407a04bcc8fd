"""Shared fixtures. Service fixtures skip when a server is absent locally and FAIL under CI=true."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
REDIS_URL = os.environ.get("BEAT_STORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_service(name: str, reason: str) -> None:
    """Skip locally, fail in CI: a missing service must never turn CI green."""
    message = f"{name} is not reachable: {reason}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: the {name} suite must run)")
    pytest.skip(message)


@contextmanager
def flushed_redis(url: str) -> Iterator[str]:
    """The Redis database at ``url``, emptied before and after; skips (fails in CI) when Redis is absent."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        require_service("Redis", str(error))
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed Redis database for one test (db 15 unless BEAT_STORE_TEST_REDIS_URL says otherwise)."""
    with flushed_redis(REDIS_URL) as url:
        yield url
