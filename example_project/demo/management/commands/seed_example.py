"""Create an admin user (admin/admin) and one example schedule of every trigger kind; idempotent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from beat_store import add_schedule

EXAMPLES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "every-10-seconds",
        "demo.tasks.quick",
        {"type": "interval", "seconds": 10},
        {"kwargs": {"label": "interval"}},
    ),
    ("every-minute-cron", "demo.tasks.quick", {"type": "cron", "expression": "* * * * *"}, {}),
    (
        "slow-every-20-seconds",
        "demo.tasks.slow",
        {"type": "interval", "seconds": 20},
        {"kwargs": {"seconds": 30}, "max_instances": 1},
    ),
    ("failing-every-30-seconds", "demo.tasks.failing", {"type": "interval", "seconds": 30}, {}),
    ("flaky-every-minute", "demo.tasks.flaky", {"type": "cron", "second": "30"}, {"jitter": 5}),
    (
        "monthly-on-the-first",
        "demo.tasks.quick",
        {"type": "calendarinterval", "months": 1, "hour": 10},
        {"coalesce": "earliest", "misfire_grace_time": 3600},
    ),
    (
        "weekday-mornings-or-every-6-hours",
        "demo.tasks.quick",
        {
            "type": "or",
            "triggers": [
                {"type": "cron", "day_of_week": "mon-fri", "hour": "8", "minute": "30"},
                {"type": "interval", "hours": 6},
            ],
        },
        {},
    ),
    (
        "every-other-month-on-weekdays",
        "demo.tasks.quick",
        {
            "type": "and",
            "triggers": [
                {"type": "calendarinterval", "months": 2, "hour": 10},
                {"type": "cron", "day_of_week": "mon-fri", "hour": "10", "minute": "0"},
            ],
        },
        {},
    ),
]


class Command(BaseCommand):
    help = "Create the admin user admin/admin and example schedules of every trigger kind (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if not user_model.objects.filter(username="admin").exists():
            user_model.objects.create_superuser("admin", "admin@example.com", "admin")
            self.stdout.write("Created superuser admin / admin")
        for name, task, trigger, fields in EXAMPLES:
            add_schedule(name, task, trigger, **fields)
        in_two_minutes = (timezone.now() + timedelta(minutes=2)).replace(microsecond=0)
        add_schedule("once-in-two-minutes", "demo.tasks.quick", {"type": "date", "run_at": in_two_minutes.isoformat()})
        self.stdout.write(self.style.SUCCESS(f"{len(EXAMPLES) + 1} example schedules are in place"))
