"""Django system checks, ids ``beat_store.E001``... and ``beat_store.W001``..."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


def check_use_tz(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if getattr(settings, "USE_TZ", True):
        return []
    return [
        checks.Error(
            "beat_store needs USE_TZ = True: fire times are aware datetimes.",
            hint="Set USE_TZ = True in your settings.",
            id="beat_store.E001",
        )
    ]


def register() -> None:
    checks.register(check_use_tz, checks.Tags.compatibility)
