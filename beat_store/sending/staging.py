"""Messages prepared ahead and staged in Redis, released into their queues at the fire time by one script call.

A run decided before its fire time (``BEAT_STORE_PREPARE_AHEAD``) has its message built at once, exactly as it will
be published (kombu's envelope and target list, see ``redis_pipeline``), and kept in Redis apart from any queue:

- ``<prefix>:messages`` (hash): execution id -> ``"<deadline>\\n<list key>\\n<envelope>"`` (deadline as Unix
  seconds, empty when the run has none);
- ``<prefix>:due`` (sorted set): execution id scored by its send time, so that what nobody released can be found;
- ``<prefix>:released`` (sorted set): execution id scored by the moment a script released it, until the beat that
  released it has recorded it ``sent`` in the database.

At the fire time a beat passes the ids the database says are due (:mod:`beat_store.staged_runs`) to
:meth:`Stage.release`, one Lua script per batch: each message is pushed onto its list and journalled, or, past its
deadline, dropped. :meth:`Stage.withdraw` takes messages back (an edit, a pause, max instances) with the same
atomicity: a message leaves the hash once, so it is either released or withdrawn, never both, whatever the number of
beats and wherever one of them is killed. The journal tells a beat that finds a message gone whether another
released it (record it ``sent``) or Redis lost it (send it again from the database).

The keys are namespaced by the database the runs live in, so two projects sharing one Redis never release each
other's runs. Scripts name the queue lists they push to only in their arguments: Redis Cluster is not supported
(kombu's Redis transport does not support it either), nor is kombu's ``global_keyprefix`` (staging is then off).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from beat_store.sending.redis_pipeline import supports as pipeline_supports

logger = logging.getLogger(__name__)

# KEYS: messages, due, released. ARGV: now (Unix seconds), then the ids to release.
# Returns four lists of ids: released, missed (deadline passed), released before (journalled), absent.
# Commands take many arguments at once (pushes grouped by list, in order), a thousand at a time (Lua's stack).
_RELEASE = """
local now = tonumber(ARGV[1])
local released, missed, before, absent, taken, pushes, order = {}, {}, {}, {}, {}, {}, {}
local function each_chunk(values, call)
  for i = 1, #values, 1000 do call(unpack(values, i, math.min(i + 999, #values))) end
end
local staged = {}
for i = 2, #ARGV, 1000 do
  local part = redis.call('HMGET', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  for j = 1, #part do staged[i + j - 2] = part[j] end
end
for i = 2, #ARGV do
  local id, entry = ARGV[i], staged[i - 1]
  if entry then
    taken[#taken + 1] = id
    local first = string.find(entry, '\\n', 1, true)
    local second = string.find(entry, '\\n', first + 1, true)
    local deadline = string.sub(entry, 1, first - 1)
    if deadline ~= '' and tonumber(deadline) < now then
      missed[#missed + 1] = id
    else
      local key = string.sub(entry, first + 1, second - 1)
      if not pushes[key] then pushes[key] = {}; order[#order + 1] = key end
      table.insert(pushes[key], string.sub(entry, second + 1))
      released[#released + 1] = id
    end
  elseif redis.call('ZSCORE', KEYS[3], id) then
    before[#before + 1] = id
  else
    absent[#absent + 1] = id
  end
end
for _, key in ipairs(order) do
  each_chunk(pushes[key], function(...) redis.call('LPUSH', key, ...) end)
end
each_chunk(taken, function(...) redis.call('HDEL', KEYS[1], ...) end)
each_chunk(taken, function(...) redis.call('ZREM', KEYS[2], ...) end)
local journal = {}
for _, id in ipairs(released) do journal[#journal + 1] = now; journal[#journal + 1] = id end
each_chunk(journal, function(...) redis.call('ZADD', KEYS[3], ...) end)
return {released, missed, before, absent}
"""

# KEYS: messages, due, released. ARGV: the ids to withdraw.
# Returns three lists of ids: withdrawn, released before (journalled), absent.
_WITHDRAW = """
local withdrawn, before, absent = {}, {}, {}
for i = 1, #ARGV do
  local id = ARGV[i]
  redis.call('ZREM', KEYS[2], id)
  if redis.call('HDEL', KEYS[1], id) == 1 then
    withdrawn[#withdrawn + 1] = id
  elseif redis.call('ZSCORE', KEYS[3], id) then
    before[#before + 1] = id
  else
    absent[#absent + 1] = id
  end
end
return {withdrawn, before, absent}
"""

#: How long a release stays in the journal when the beat that made it could not clear it (it died): longer than
#: any run is held for a beat (``staged_runs.HOLD``), so a survivor always finds it.
JOURNAL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Released:
    """What :meth:`Stage.release` did with each id it was given."""

    released: list[int]  # pushed onto their queue now
    missed: list[int]  # their deadline had passed: dropped, not pushed
    released_before: list[int]  # released earlier by a beat that did not record it
    absent: list[int]  # neither staged nor released: lost by Redis (or never staged)


@dataclass(frozen=True)
class Withdrawn:
    """What :meth:`Stage.withdraw` did with each id it was given."""

    withdrawn: list[int]  # taken back: never reached a queue
    released_before: list[int]  # already in a queue
    absent: list[int]


def supports(producer: Any) -> bool:
    """Can runs be staged on this producer's broker (kombu's Redis transport, without a global key prefix)?"""
    return pipeline_supports(producer) and not getattr(producer.channel, "global_keyprefix", "")


def namespace() -> str:
    """The key prefix of this project's staged runs: one per database (execution ids are unique only there)."""
    settings = connection.settings_dict
    identity = "|".join(str(settings.get(name) or "") for name in ("ENGINE", "HOST", "PORT", "NAME"))
    return f"beat_store:staged:{hashlib.sha1(identity.encode()).hexdigest()[:12]}"


class Stage:
    """The staging area of one Redis client (the broker connection's)."""

    def __init__(self, client: Any, prefix: str | None = None) -> None:
        self.client = client
        prefix = prefix or namespace()
        self.messages_key = f"{prefix}:messages"
        self.due_key = f"{prefix}:due"
        self.released_key = f"{prefix}:released"
        self._release = client.register_script(_RELEASE)
        self._withdraw = client.register_script(_WITHDRAW)

    @property
    def _keys(self) -> list[str]:
        return [self.messages_key, self.due_key, self.released_key]

    def add(
        self,
        pipeline: Any,
        execution_id: int,
        *,
        send_at: datetime,
        deadline_at: datetime | None,
        list_key: str | bytes,
        payload: str | bytes,
    ) -> None:
        """Buffer on ``pipeline`` the staging of one run's message (kept until released or withdrawn)."""
        key = list_key.decode() if isinstance(list_key, bytes) else list_key
        if "\n" in key:
            raise ValueError(f"queue key {key!r} cannot be staged")
        body = payload.decode() if isinstance(payload, bytes) else payload
        deadline = "" if deadline_at is None else repr(deadline_at.timestamp())
        pipeline.hset(self.messages_key, str(execution_id), f"{deadline}\n{key}\n{body}")
        pipeline.zadd(self.due_key, {str(execution_id): send_at.timestamp()})

    def pipeline(self) -> Any:
        return self.client.pipeline(transaction=False)

    def release(self, execution_ids: Sequence[int], *, now: datetime) -> Released:
        """Push the staged messages of these runs onto their queues, in one atomic step (see the module)."""
        if not execution_ids:
            return Released([], [], [], [])
        result = self._release(keys=self._keys, args=[repr(now.timestamp()), *map(str, execution_ids)])
        released, missed, before, absent = (_ids(part) for part in result)
        return Released(released, missed, before, absent)

    def withdraw(self, execution_ids: Sequence[int]) -> Withdrawn:
        """Take the staged messages of these runs back, unless already released (atomic, see the module)."""
        if not execution_ids:
            return Withdrawn([], [], [])
        result = self._withdraw(keys=self._keys, args=list(map(str, execution_ids)))
        withdrawn, before, absent = (_ids(part) for part in result)
        return Withdrawn(withdrawn, before, absent)

    def forget_released(self, execution_ids: Sequence[int]) -> None:
        """Clear journal entries once their runs are recorded ``sent``."""
        if execution_ids:
            self.client.zrem(self.released_key, *map(str, execution_ids))

    def overdue(self, *, before: datetime, limit: int) -> list[int]:
        """Ids staged for a send time before ``before`` and still not released (candidates for clean-up)."""
        return _ids(self.client.zrangebyscore(self.due_key, "-inf", before.timestamp(), start=0, num=limit))

    def drop(self, execution_ids: Sequence[int]) -> None:
        """Delete staged messages no run will release (their row was withdrawn in the database)."""
        if execution_ids:
            names = list(map(str, execution_ids))
            pipeline = self.pipeline()
            pipeline.hdel(self.messages_key, *names)
            pipeline.zrem(self.due_key, *names)
            pipeline.execute()

    def expire_journal(self, *, before: datetime) -> int:
        return int(self.client.zremrangebyscore(self.released_key, "-inf", before.timestamp()))

    def size(self) -> int:
        """How many messages are staged (for metrics and tests)."""
        return int(self.client.hlen(self.messages_key))


def _ids(values: Any) -> list[int]:
    return [int(value) for value in values or ()]
