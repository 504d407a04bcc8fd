from __future__ import annotations

from django.apps import AppConfig


class BeatStoreConfig(AppConfig):
    name = "beat_store"
    verbose_name = "Beat store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from beat_store import checks, receivers

        checks.register()
        receivers.connect()
