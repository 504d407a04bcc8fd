"""Benchmarks of beat_store against django-celery-beat and celery-redbeat (issue 4). Not a test suite."""

from __future__ import annotations
