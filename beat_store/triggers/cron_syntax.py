"""Cron field syntax: checking APScheduler 3 field values and reading classic 5-field crontab lines.

APScheduler 3's ``from_crontab`` reads day-of-week 0 as Monday; a classic crontab reads 0 (and 7) as Sunday.
We parse the crontab day-of-week field ourselves and hand APScheduler weekday *names*, which both agree on.
"""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger as APSCronTrigger

from beat_store.exceptions import InvalidTrigger

CRON_FIELD_NAMES: tuple[str, ...] = tuple(APSCronTrigger.FIELD_NAMES)
CRONTAB_FIELD_NAMES = ("minute", "hour", "day", "month", "day_of_week")
CRONTAB_LABELS = {
    "minute": "minute",
    "hour": "hour",
    "day": "day-of-month",
    "month": "month",
    "day_of_week": "day-of-week",
}
# Index = crontab weekday number (0 = Sunday); APScheduler's names are language-neutral.
CRONTAB_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRONTAB_DOW_PART = re.compile(r"^(?P<first>\*|[0-9]+|[a-z]{3})(?:-(?P<last>[0-9]+|[a-z]{3}))?(?:/(?P<step>[0-9]+))?$")


def check_cron_field(name: str, value: str, field: str) -> None:
    """Raise ``InvalidTrigger(field, ...)`` unless APScheduler 3 accepts ``value`` for cron field ``name``."""
    try:
        APSCronTrigger.FIELDS_MAP[name](name, value)
    except ValueError as error:
        raise InvalidTrigger(field, f"invalid {name} value {value!r}: {error}") from None


def crontab_expression(minute: object, hour: object, day_of_month: object, month: object, day_of_week: object) -> str:
    """A classic 5-field crontab line from Celery-style field values (Celery's ``crontab``, django-celery-beat's
    and redbeat's crontab rows): each field as written, with the blanks Celery tolerates inside a field removed."""
    return " ".join(str(part).replace(" ", "") for part in (minute, hour, day_of_month, month, day_of_week))


def crontab_to_fields(expression: str, field: str = "expression") -> dict[str, str]:
    """APScheduler field values for a classic crontab line ``"m h dom mon dow"``; errors name ``field``."""
    parts = expression.split()
    if len(parts) != len(CRONTAB_FIELD_NAMES):
        raise InvalidTrigger(
            field,
            f"a crontab expression has 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}",
        )
    values = dict(zip(CRONTAB_FIELD_NAMES, parts, strict=True))
    values["day_of_week"] = _crontab_weekdays(values["day_of_week"], field)
    for name, value in values.items():
        try:
            APSCronTrigger.FIELDS_MAP[name](name, value)
        except ValueError as error:
            raise InvalidTrigger(
                field, f"{CRONTAB_LABELS[name]} field {parts[CRONTAB_FIELD_NAMES.index(name)]!r}: {error}"
            ) from None
    return values


def _crontab_weekdays(text: str, field: str) -> str:
    if text == "*":
        return "*"
    numbers: set[int] = set()
    for part in text.lower().split(","):
        numbers.update(_crontab_weekday_part(part, field))
    # APScheduler numbers Monday 0 .. Sunday 6; list the names in that order.
    ordered = sorted(numbers, key=lambda number: (number - 1) % 7)
    return ",".join(CRONTAB_WEEKDAYS[number] for number in ordered)


def _crontab_weekday_part(part: str, field: str) -> set[int]:
    match = _CRONTAB_DOW_PART.match(part)
    if match is None:
        raise InvalidTrigger(field, f"day-of-week field: cannot read {part!r} (use 0-7 or sun..sat, ranges, steps)")
    first_text, last_text, step_text = match.group("first", "last", "step")
    if first_text == "*":
        if last_text is not None:
            raise InvalidTrigger(field, f"day-of-week field: cannot read {part!r}")
        first, last = 0, 6
    else:
        first = _crontab_weekday_number(first_text, field, is_range_end=False)
        if last_text is not None:
            last = _crontab_weekday_number(last_text, field, is_range_end=True)
        else:
            last = 7 if step_text is not None else first
    step = int(step_text) if step_text is not None else 1
    if step == 0:
        raise InvalidTrigger(field, f"day-of-week field: the step in {part!r} must be at least 1")
    if first > last:
        raise InvalidTrigger(field, f"day-of-week field: the range {part!r} ends before it starts")
    return {number % 7 for number in range(first, last + 1, step)}


def _crontab_weekday_number(text: str, field: str, *, is_range_end: bool) -> int:
    if text.isdigit():
        number = int(text)
        if number > 7:
            raise InvalidTrigger(field, f"day-of-week field: {text} is not a weekday number (0-7, 0 and 7 = Sunday)")
        return number
    if text not in CRONTAB_WEEKDAYS:
        raise InvalidTrigger(field, f"day-of-week field: {text!r} is not a weekday name (sun..sat)")
    number = CRONTAB_WEEKDAYS.index(text)
    # "fri-sun" means Friday to Sunday: Sunday closes a range as 7.
    return 7 if is_range_end and number == 0 else number
