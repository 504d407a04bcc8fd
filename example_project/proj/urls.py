from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/beat_store/schedule/")),
    path("admin/", admin.site.urls),
    # Prometheus metrics at /beat-store/metrics/ (staff, or BEAT_STORE_METRICS_TOKEN; needs beat_store[metrics]).
    path("beat-store/", include("beat_store.urls")),
]
