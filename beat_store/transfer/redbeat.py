"""redbeat's Redis keys -> schedule drafts.

redbeat keeps a sorted set ``<prefix>:schedule`` (default prefix ``redbeat:``) whose members are the keys of
per-entry hashes; each hash holds a JSON ``definition`` (name, task, args, kwargs, options, schedule, enabled)
and a JSON ``meta`` (``last_run_at``). Special values are JSON objects tagged ``__type__``.

==================================  ==========================================================================
redbeat                             beat_store
==================================  ==========================================================================
interval (every seconds)            ``interval`` trigger
crontab                             ``cron`` trigger (5-field expression), the default time zone (Celery's)
rrule, FREQ secondly..weekly        ``interval`` of INTERVAL units, ``start_at`` = dtstart (first fire time)
rrule, FREQ monthly/yearly          ``calendarinterval`` at dtstart's time of day (UTC); ``start_at`` too
rrule with BY* rules or COUNT       unsupported; UNTIL becomes ``end_at``
options queue, exchange, ...        same columns; ``expires`` in seconds; other options are unsupported
enabled = false                     ``paused``
meta.last_run_at                    ``last_fire_at``; ``next_fire_at`` is the first fire time after it
==================================  ==========================================================================

The module reads the JSON itself, so redbeat need not be installed.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery import current_app
from django.conf import settings

from beat_store.exceptions import InvalidTrigger
from beat_store.timezones import get_zone
from beat_store.transfer.importing import ScheduleDraft, Unsupported
from beat_store.transfer.sources import SourceReading, SourceUnavailable
from beat_store.triggers import validate_trigger_spec
from beat_store.triggers.cron_syntax import crontab_expression

DEFAULT_KEY_PREFIX = "redbeat:"
_OPTION_COLUMNS = ("queue", "exchange", "routing_key", "priority", "headers")
# dateutil's frequency numbers, as redbeat stores them.
_RRULE_INTERVAL_UNITS = {2: "weeks", 3: "days", 4: "hours", 5: "minutes", 6: "seconds"}
_RRULE_CALENDAR_UNITS = {0: "years", 1: "months"}
_RRULE_RULES = (
    "bysetpos",
    "bymonth",
    "bymonthday",
    "byyearday",
    "byeaster",
    "byweekno",
    "byweekday",
    "byhour",
    "byminute",
    "bysecond",
)


class Unmappable(ValueError):
    """One redbeat entry cannot be expressed exactly."""


def read_redbeat(*, redis_url: str | None = None, key_prefix: str | None = None) -> SourceReading:
    """Every entry of redbeat's schedule as a draft, or as an unsupported entry saying why."""
    import redis

    url = redis_url or default_redis_url()
    prefix = key_prefix or default_key_prefix()
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys: list[str] = list(client.zrange(f"{prefix}:schedule", 0, -1))  # type: ignore[arg-type]
        reading = SourceReading()
        for key in sorted(keys):
            definition, meta = client.hmget(key, ["definition", "meta"])
            name = key[len(prefix) :] if key.startswith(prefix) else key
            if not definition:
                reading.unsupported.append(Unsupported(name, f"the hash {key!r} has no definition"))
                continue
            try:
                reading.drafts.append(draft_from_entry(name, str(definition), str(meta) if meta else None))
            except Unmappable as error:
                reading.unsupported.append(Unsupported(name, str(error)))
    except redis.exceptions.RedisError as error:
        raise SourceUnavailable(f"cannot read redbeat's keys at {_without_password(url)}: {error}") from error
    finally:
        client.close()
    return reading


def draft_from_entry(key_name: str, definition_text: str, meta_text: str | None) -> ScheduleDraft:
    """One redbeat entry (its two JSON texts) -> a draft; raises ``Unmappable`` saying why not.

    redbeat's hashes can be written by anyone with access to Redis: a value of the wrong type anywhere in them
    makes the entry unmappable (reported with the rest of the import), never a crash of the import."""
    try:
        return _draft_from_entry(key_name, definition_text, meta_text)
    except Unmappable:
        raise
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, RecursionError) as error:
        raise Unmappable(f"malformed entry ({type(error).__name__}: {error})") from error


def _draft_from_entry(key_name: str, definition_text: str, meta_text: str | None) -> ScheduleDraft:
    try:
        definition = json.loads(definition_text)
        meta = json.loads(meta_text) if meta_text else {}
    except json.JSONDecodeError as error:
        raise Unmappable(f"its definition or meta is not valid JSON: {error}") from error
    if not isinstance(definition, dict) or not definition.get("task"):
        raise Unmappable("its definition names no task")
    fields: dict[str, Any] = {
        "task": definition["task"],
        "args": list(definition.get("args") or []),
        "kwargs": dict(definition.get("kwargs") or {}),
        "paused": not definition.get("enabled", True),
    }
    fields.update(_schedule_fields(definition.get("schedule")))
    fields.update(_option_fields(dict(definition.get("options") or {})))
    last_run = meta.get("last_run_at") if isinstance(meta, dict) else None
    last_fire_at = decode_datetime(last_run) if last_run else None
    draft = ScheduleDraft(name=str(definition.get("name") or key_name), fields=fields, last_fire_at=last_fire_at)
    if fields["trigger"]["type"] == "interval" and "start_at" not in fields:
        # Celery counts a plain interval from the last run: anchoring there keeps its phase.
        draft.anchor_at = last_fire_at
    return draft


def decode_datetime(value: Any) -> datetime:
    """redbeat's tagged datetime (a zone name, or an offset in seconds) -> an aware datetime."""
    if not isinstance(value, dict) or value.get("__type__") != "datetime":
        raise Unmappable(f"unreadable datetime {value!r}")
    zone_value = value.get("timezone", "UTC")
    try:
        zone: Any = (
            get_zone(zone_value) if isinstance(zone_value, str) else timezone(timedelta(seconds=float(zone_value)))
        )
        parts = {key: int(value[key]) for key in ("year", "month", "day", "hour", "minute", "second")}
        return datetime(**parts, microsecond=int(value.get("microsecond", 0)), tzinfo=zone)
    except (KeyError, TypeError, ValueError, InvalidTrigger) as error:
        raise Unmappable(f"unreadable datetime {value!r}: {error}") from error


def _schedule_fields(schedule: Any) -> dict[str, Any]:

    kind = schedule.get("__type__") if isinstance(schedule, dict) else None
    if kind == "interval":
        fields: dict[str, Any] = {"trigger": {"type": "interval", "seconds": float(schedule["every"])}}
    elif kind == "crontab":
        parts = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        expression = crontab_expression(*(schedule.get(part, "*") for part in parts))
        fields = {"trigger": {"type": "cron", "expression": expression}}
    elif kind == "rrule":
        fields = _rrule_fields(schedule)
    else:
        raise Unmappable(f"unsupported schedule type {kind!r}")
    try:
        fields["trigger"] = validate_trigger_spec(fields["trigger"])
    except InvalidTrigger as error:
        raise Unmappable(f"its schedule does not make a valid trigger: {error}") from error
    return fields


def _rrule_fields(rule: dict[str, Any]) -> dict[str, Any]:
    used = [name for name in _RRULE_RULES if rule.get(name) not in (None, [], ())]
    if used:
        raise Unmappable(f"rrules with {', '.join(used).upper()} have no beat_store trigger")
    if rule.get("count") is not None:
        raise Unmappable("rrules with COUNT have no beat_store trigger; use UNTIL (an end)")
    interval = int(rule.get("interval") or 1)
    freq = rule.get("freq")
    if rule.get("dtstart") is None:
        raise Unmappable("the rrule has no dtstart, so its fire times are unknown")
    start = _rrule_instant(rule["dtstart"], rule.get("dtstart_tz"))
    fields: dict[str, Any] = {"start_at": start, "timezone": "UTC"}
    if rule.get("until") is not None:
        fields["end_at"] = _rrule_instant(rule["until"], rule.get("until_tz"))
    if freq in _RRULE_INTERVAL_UNITS:
        fields["trigger"] = {"type": "interval", _RRULE_INTERVAL_UNITS[freq]: interval}
    elif freq in _RRULE_CALENDAR_UNITS:
        # A fixed-offset dtstart has no DST, so its time of day read in UTC is the same instant every time.
        fields["trigger"] = {
            "type": "calendarinterval",
            _RRULE_CALENDAR_UNITS[freq]: interval,
            "hour": start.hour,
            "minute": start.minute,
            "second": start.second,
        }
    else:
        raise Unmappable(f"unknown rrule frequency {freq!r}")
    return fields


def _rrule_instant(timestamp: Any, offset_minutes: Any) -> datetime:
    # redbeat stores rrule bounds as UTC timestamps; the offset only said how they were displayed.
    del offset_minutes
    try:
        return datetime.fromtimestamp(float(timestamp), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError) as error:
        raise Unmappable(f"unreadable rrule time {timestamp!r}") from error


def _option_fields(options: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name in _OPTION_COLUMNS:
        value = options.pop(name, None)
        if value is not None:
            fields[name] = value
    expires = options.pop("expires", None)
    if expires is not None:
        if not isinstance(expires, (int, float)) or isinstance(expires, bool):
            raise Unmappable(f"option expires={expires!r} is not a number of seconds")
        fields["expires"] = float(expires)
    if options:
        raise Unmappable(f"option(s) {', '.join(sorted(options))} have no beat_store column")
    return fields


def default_redis_url() -> str:
    """``CELERY_REDBEAT_REDIS_URL``, else the Celery app's ``redbeat_redis_url``, else its broker URL."""

    url = (
        getattr(settings, "CELERY_REDBEAT_REDIS_URL", None)
        or current_app.conf.get("redbeat_redis_url")
        or getattr(settings, "CELERY_BROKER_URL", None)
        or current_app.conf.broker_url
    )
    if not url or not str(url).startswith(("redis://", "rediss://", "unix://")):
        raise SourceUnavailable(f"no Redis URL for redbeat (found {url!r}); name it with --redis-url")
    return str(url)


def default_key_prefix() -> str:

    return str(
        getattr(settings, "CELERY_REDBEAT_KEY_PREFIX", None)
        or current_app.conf.get("redbeat_key_prefix")
        or DEFAULT_KEY_PREFIX
    )


def _without_password(url: str) -> str:

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
