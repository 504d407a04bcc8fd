"""Moving schedules in and out: JSON/YAML/INI files, django-celery-beat's tables and redbeat's Redis keys.

Every source is turned into :class:`~beat_store.transfer.importing.ScheduleDraft` values (plus the entries it
cannot express, reported one by one); :func:`~beat_store.transfer.importing.import_drafts` writes them in one
transaction, idempotently.
"""

from __future__ import annotations
