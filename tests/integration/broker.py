"""What is on the broker: decode the kombu messages beat left in a Redis list, and run a private Redis server.

No worker runs in the high-availability tests, so every message beat published stays in the queue's list and
can be counted: that is the only way to see a run sent twice with the same task id.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import redis

from tests.integration.processes import wait_until

#: kombu's Redis transport keeps priorities above 0 in sibling lists named ``<queue>\x06\x16<priority>``.
PRIORITY_SEPARATOR = "\x06\x16"

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class BrokerMessage:
    """One published run, as a worker would receive it."""

    task_id: str
    task: str
    schedule_name: str
    fire_time: datetime
    #: Celery's ``origin`` header, ``gen<pid>@<host>``: which process published the message.
    origin: str

    @property
    def run_key(self) -> tuple[str, datetime]:
        return (self.schedule_name, self.fire_time)


def decode_message(raw: bytes | str) -> BrokerMessage:
    """A kombu message from a Redis list (JSON envelope, Celery protocol 2 headers) as a ``BrokerMessage``."""
    envelope = json.loads(raw)
    message_headers = envelope["headers"]
    return BrokerMessage(
        task_id=message_headers["id"],
        task=message_headers["task"],
        schedule_name=message_headers["beat_store_schedule"],
        fire_time=datetime.fromisoformat(message_headers["beat_store_fire_time"]),
        origin=message_headers.get("origin") or "",
    )


def read_messages(redis_url: str, queue: str = "celery") -> list[BrokerMessage]:
    """Every message waiting in ``queue`` (all priority lists), without consuming them."""
    client = redis.Redis.from_url(redis_url)
    try:
        names = [queue, *(key.decode() for key in client.scan_iter(match=f"{queue}{PRIORITY_SEPARATOR}*"))]
        return [decode_message(raw) for name in names for raw in client.lrange(name, 0, -1)]
    finally:
        client.close()


def published_by(messages: Iterable[BrokerMessage], pid: int) -> list[BrokerMessage]:
    """The messages the process ``pid`` published (Celery stamps ``gen<pid>@<host>`` as their origin)."""
    return [message for message in messages if message.origin.startswith(f"gen{pid}@")]


def repeated(keys: Iterable[K]) -> dict[K, int]:
    """The keys seen more than once, with how many times."""
    return {key: count for key, count in Counter(keys).items() if count > 1}


def free_port(first: int = 6390, last: int = 6490) -> int:
    """The first port in ``first..last`` nothing listens on, so the shared Redis (6379) is never touched."""
    for port in range(first, last + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError(f"no free port between {first} and {last} for a private redis-server")


@dataclass
class PrivateRedis:
    """A throw-away ``redis-server`` on its own port, with no persistence: a test may kill and restart it."""

    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @staticmethod
    def executable() -> str | None:
        return shutil.which("redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        executable = self.executable()
        if executable is None:
            raise RuntimeError("redis-server is not on PATH")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self.is_answering, timeout=10, interval=0.05, message=f"redis-server to answer on {self.port}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: whatever the server held in memory is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def is_answering(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False
        finally:
            client.close()
