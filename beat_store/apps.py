from __future__ import annotations

from django.apps import AppConfig


class BeatStoreConfig(AppConfig):
    name = "beat_store"
    verbose_name = "Beat store"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from beat_store import checks, receivers, schedule_events, sentry_crons, wakeups
        from beat_store.models import Schedule

        checks.register()
        receivers.connect()
        sentry_crons.connect()
        post_save.connect(wakeups.notify_schedules_changed, sender=Schedule, dispatch_uid="beat_store_wakeup_save")
        post_delete.connect(wakeups.notify_schedules_changed, sender=Schedule, dispatch_uid="beat_store_wakeup_delete")
        post_save.connect(schedule_events.on_saved, sender=Schedule, dispatch_uid="beat_store_schedule_saved")
        post_delete.connect(schedule_events.on_deleted, sender=Schedule, dispatch_uid="beat_store_schedule_deleted")
