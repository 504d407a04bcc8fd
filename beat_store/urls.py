"""``path("beat-store/", include("beat_store.urls"))`` mounts ``metrics/`` (see :mod:`beat_store.views`)."""

from __future__ import annotations

from django.urls import path

from beat_store import views

app_name = "beat_store"
urlpatterns = [path("metrics/", views.metrics, name="metrics")]
