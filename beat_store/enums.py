"""The vocabulary of beat_store: one place for every choice stored in the database."""

from __future__ import annotations

from django.db import models


class TriggerKind(models.TextChoices):
    DATE = "date", "date"
    INTERVAL = "interval", "interval"
    CRON = "cron", "cron"
    CALENDAR_INTERVAL = "calendarinterval", "calendar interval"
    OR = "or", "or (any member)"
    AND = "and", "and (all members)"


class CoalescePolicy(models.TextChoices):
    LATEST = "latest", "latest: one run for the latest missed fire time"
    EARLIEST = "earliest", "earliest: one run for the earliest missed fire time"
    ALL = "all", "all: one run for every missed fire time"


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    STARTED = "started", "started"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    RETRYING = "retrying", "retrying"
    REVOKED = "revoked", "revoked"
    MISSED = "missed", "missed"
    SKIPPED = "skipped", "skipped"
    LOST = "lost", "lost"

    @classmethod
    def open_values(cls) -> tuple[str, ...]:
        """Statuses that hold one of the schedule's ``max_instances`` slots."""
        return (cls.PENDING, cls.SENT, cls.STARTED, cls.RETRYING)

    @classmethod
    def final_values(cls) -> tuple[str, ...]:
        """Statuses a run never leaves (``lost`` aside: a worker that reappears may still finish it)."""
        return (cls.SUCCEEDED, cls.FAILED, cls.REVOKED, cls.MISSED, cls.SKIPPED, cls.LOST)


class ScheduleSource(models.TextChoices):
    ADMIN = "admin", "admin"
    CODE = "code", "code"
    SETTINGS = "settings", "settings"
    IMPORT = "import", "import"
    FILE = "file", "file"
