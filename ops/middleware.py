"""Request ids for HTTP (docs/deployment.md, "Logs").

A request keeps the ``X-Request-ID`` its proxy gave it when that is a short
token of safe characters, or gets a new one; the id is in every log line of
the request and is echoed in the response header so that an operator can
match a client's report to the logs.
"""

import re
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from .logging import request_id

HEADER = "X-Request-ID"
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,64}")


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
        rid = _incoming_id(request)
        token = request_id.set(rid)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response

    async def _acall(self, request):
        rid = _incoming_id(request)
        token = request_id.set(rid)
        try:
            response = await self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response
