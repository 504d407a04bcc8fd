"""Cron field syntax: checking APScheduler 3 field values and reading classic 5-field crontab lines.

APScheduler 3 reads day-of-week 0 as Monday; crontab, Celery and APScheduler 4 read 0 (and 7) as Sunday. We
read every day-of-week value (the crontab field and the ``day_of_week`` field alike) ourselves, in crontab
numbering (``weekdays``), and hand APScheduler 3 weekday *names*, which every numbering agrees on.
"""

from __future__ import annotations

from apscheduler.triggers.cron import CronTrigger as APSCronTrigger

from beat_store.exceptions import InvalidTrigger
from beat_store.triggers.weekdays import read_weekdays, weekday_names

CRON_FIELD_NAMES: tuple[str, ...] = tuple(APSCronTrigger.FIELD_NAMES)
CRONTAB_FIELD_NAMES = ("minute", "hour", "day", "month", "day_of_week")
CRONTAB_LABELS = {
    "minute": "minute",
    "hour": "hour",
    "day": "day-of-month",
    "month": "month",
    "day_of_week": "day-of-week",
}


def check_cron_field(name: str, value: str, field: str) -> None:
    """Raise ``InvalidTrigger(field, ...)`` unless ``value`` is valid for cron field ``name``."""
    try:
        APSCronTrigger.FIELDS_MAP[name](name, apscheduler_day_of_week(value) if name == "day_of_week" else value)
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
    try:
        values["day_of_week"] = apscheduler_day_of_week(values["day_of_week"])
    except ValueError as error:
        raise InvalidTrigger(field, f"day-of-week field: {error}") from None
    for name, value in values.items():
        try:
            APSCronTrigger.FIELDS_MAP[name](name, value)
        except ValueError as error:
            raise InvalidTrigger(
                field, f"{CRONTAB_LABELS[name]} field {parts[CRONTAB_FIELD_NAMES.index(name)]!r}: {error}"
            ) from None
    return values


def apscheduler_day_of_week(text: str) -> str:
    """The day-of-week value handed to APScheduler 3's field parser: the days ``text`` names in crontab
    numbering (see ``weekdays``), by name, so that APScheduler's own numbering never comes into play."""
    return weekday_names(read_weekdays(text))
