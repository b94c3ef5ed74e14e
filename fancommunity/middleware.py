"""Operations middleware (issue 17): the probe endpoints, and the webhook latency histogram."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from fancommunity import health, metrics


class OpsEndpointsMiddleware:
    """First in MIDDLEWARE: serves /healthz, /healthz/strict and /metrics before the HTTPS redirect,
    the Host check and sessions (probes come over plain HTTP to an internal address and carry no
    cookie), and times the Twilio webhooks for the latency histogram."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path in ("/healthz", "/healthz/"):
            return _probe(health.healthz(request))
        if path in ("/healthz/strict", "/healthz/strict/"):
            return _probe(health.healthz_strict(request))
        if path in ("/metrics", "/metrics/"):
            return _probe(metrics.metrics_view(request))
        if path.startswith("/webhooks/twilio/"):
            started = time.perf_counter()
            response = self.get_response(request)
            metrics.observe_webhook(path, response.status_code, time.perf_counter() - started)
            return response
        return self.get_response(request)


def _probe(response: HttpResponse) -> HttpResponse:
    # Answered before fancommunity.security's middleware runs: the header every answer carries.
    response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
    return response
