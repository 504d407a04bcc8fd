"""Views to mount with ``path("beat-store/", include("beat_store.urls"))``: the Prometheus metrics."""

from __future__ import annotations

import hmac

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from beat_store.conf import settings


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' text format of :mod:`beat_store.metrics`, for a staff user or the bearer of
    ``BEAT_STORE_METRICS_TOKEN``; 403 for anyone else."""
    if not _may_read(request):
        return HttpResponse(
            "Metrics are for staff users, or a scraper sending 'Authorization: Bearer <BEAT_STORE_METRICS_TOKEN>'.\n",
            status=403,
            content_type="text/plain",
        )
    try:
        from beat_store.metrics import exposition

        body, content_type = exposition()
    except ImportError:
        return HttpResponse(
            "beat_store's metrics need prometheus-client: pip install 'beat_store[metrics]'.\n",
            status=501,
            content_type="text/plain",
        )
    return HttpResponse(body, content_type=content_type)


def _may_read(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
