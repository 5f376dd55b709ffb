"""Request ids for HTTP (docs/deployment.md, "Logs").

A request keeps the ``X-Request-ID`` its proxy gave it when that is a short
token of safe characters, or gets a new one; the id is in every log line of
the request and is echoed in the response header so that an operator can
match a client's report to the logs. Responses refused by a rate limit (429)
are counted here for ``chat_rate_limit_hits{path="rest"}``, and each request
is logged once on ``ops.access`` with its route pattern, status and duration.
"""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from . import metrics
from .logging import request_id, route_of

access_logger = logging.getLogger("ops.access")

HEADER = "X-Request-ID"
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _finish(request, response, rid, started):
    response[HEADER] = rid
    if response.status_code == 429:
        metrics.RATE_LIMIT_HITS.labels(path="rest").inc()
    # The route pattern, not the path: a path can carry a push token
    # (DELETE /api/devices/<token>/), which must never reach the logs.
    access_logger.info(
        "%s %s %s %.1fms",
        request.method,
        route_of(request),
        response.status_code,
        (time.monotonic() - started) * 1000,
    )
    return response


def _incoming_id(request):
    given = request.headers.get(HEADER, "")
    return given if _SAFE.fullmatch(given) else uuid.uuid4().hex


class RequestIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        started, rid = time.monotonic(), _incoming_id(request)
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
            return _finish(request, response, rid, started)
        finally:
            request_id.reset(token)

    async def _acall(self, request):
        started, rid = time.monotonic(), _incoming_id(request)
        token = request_id.set(rid)
        try:
            response = await self.get_response(request)
            return _finish(request, response, rid, started)
        finally:
            request_id.reset(token)
