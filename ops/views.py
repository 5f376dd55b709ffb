"""Operator endpoints: ``/healthz``, ``/readyz`` and ``/metrics`` (docs/deployment.md).

The two probes need no authentication and say nothing about where the
dependencies live. ``/metrics`` answers only the addresses in
``METRICS_ALLOWED_IPS`` or a request carrying ``METRICS_TOKEN``.
"""

import asyncio
import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from . import health, metrics

logger = logging.getLogger(__name__)


@never_cache
@require_safe
async def healthz(request):
    """The process is up and its event loop answers; nothing else is checked.

    Async, so that a busy database thread does not make a live node look dead.
    """
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
async def readyz(request):
    ready, checks = await health.readiness()
    status = "ok" if ready else "unavailable"
    return JsonResponse({"status": status, "checks": checks}, status=200 if ready else 503)


def _allowed_network(address):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOWED_IPS:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _token_ok(request):
    expected = settings.METRICS_TOKEN
    if not expected:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


@never_cache
@require_safe
async def metrics_view(request):
    if not (_token_ok(request) or _allowed_network(request.META.get("REMOTE_ADDR", ""))):
        logger.info("metrics refused to %s", request.META.get("REMOTE_ADDR"))
        return JsonResponse({"detail": "Metrics are not available to this client."}, status=403)
    # Off the database thread: reading the broker's queue lengths is a network call.
    text = await asyncio.to_thread(metrics.exposition)
    return HttpResponse(text, content_type=CONTENT_TYPE_LATEST)
