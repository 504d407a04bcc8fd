# Issue #13: the cron trigger's ``day_of_week`` field now numbers weekdays as crontab, Celery and APScheduler 4 do
# (0 and 7 = Sunday, 1 = Monday); it followed APScheduler 3 before (0 = Monday). This rewrites every stored
# ``day_of_week`` field (in and/or members too) whose days would change, so that no schedule changes its days:
# forwards "0-4" (Monday to Friday, old numbering) becomes "mon-fri"; backwards a value the old numbering reads
# differently, or refuses ("sat-mon"), becomes the same days by name. Names and "*" are left as written. Only the
# trigger column is written: the days, so next_fire_at, are unchanged. Crontab ``expression`` values always used
# crontab numbering and are not touched.
from __future__ import annotations

from typing import Any

from django.db import migrations

from beat_store.triggers.weekdays import Numbering, convert_day_of_week_numbering

BATCH = 500


def _renumber(apps: Any, source: Numbering, target: Numbering) -> None:
    schedule_model = apps.get_model("beat_store", "Schedule")
    # Every row, not only those whose trigger_kind says cron/or/and: a row changed with QuerySet.update() may
    # carry a stale kind, and a row missed here would change its days.
    rows = schedule_model.objects.only("id", "trigger").order_by("pk")
    changed = []
    for schedule in rows.iterator(chunk_size=BATCH):
        trigger = convert_day_of_week_numbering(schedule.trigger, source=source, target=target)
        if trigger is not schedule.trigger:
            schedule.trigger = trigger
            changed.append(schedule)
        if len(changed) >= BATCH:
            schedule_model.objects.bulk_update(changed, ["trigger"])
            changed = []
    if changed:
        schedule_model.objects.bulk_update(changed, ["trigger"])


def forwards(apps: Any, schema_editor: Any) -> None:
    _renumber(apps, source="apscheduler3", target="crontab")


def backwards(apps: Any, schema_editor: Any) -> None:
    _renumber(apps, source="crontab", target="apscheduler3")


class Migration(migrations.Migration):
    dependencies = [
        ("beat_store", "0003_execution_fewer_indexes"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
