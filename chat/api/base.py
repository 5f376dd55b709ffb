"""What every REST view shares: JSON in and out, error mapping, throttles (docs/rest.md).

Services raise ``chat.errors.ChatError``; ``ChatAPIView.handle_exception`` is
the one place that turns them into ``{"detail", "code"}`` responses with the
error's status, so views never catch them.
"""

import json
import logging
import re

from django.conf import settings
from django.core.cache import caches
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from redis.exceptions import RedisError
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from chat.errors import ChatError, NotFound
from chat.services import MAX_ID

logger = logging.getLogger(__name__)

THROTTLE_CACHE = "throttle"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class ServiceError(exceptions.APIException):
    """A ``ChatError`` as DRF sees it: its status, ``detail`` and protocol ``code``."""

    def __init__(self, error):
        self.status_code = error.status
        super().__init__(detail={"detail": error.detail, "code": error.code}, code=error.code)


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    """JSON bodies of at most ``CHAT_MAX_FRAME_BYTES``, the websocket frame limit.

    Django bounds form bodies but not what a parser reads from the stream, so
    an oversized body is refused here before any of it is decoded.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.CHAT_MAX_FRAME_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            text = raw.decode("utf-8")
            return json.loads(text, parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from None
        except RecursionError:
            raise exceptions.ParseError("The body is nested too deeply.") from None


class ChatAPIView(APIView):
    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]

    def handle_exception(self, exc):
        if isinstance(exc, ChatError):
            exc = ServiceError(exc)
        return super().handle_exception(exc)


class PathSegmentConverter:
    """Any single path segment, so that ``/api/rooms/abc/`` reaches the view.

    The view answers a JSON 404 for an id that is not a number (``path_id``),
    instead of Django's HTML page for an unmatched URL.
    """

    regex = "[^/]*"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return str(value)


def path_id(value, error=NotFound):
    """The id in a URL segment; one that is not a number the database can hold names nothing."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,19}", value):
        raise error()
    number = int(value)
    if not 0 < number <= MAX_ID:
        raise error()
    return number


# --- throttles ------------------------------------------------------------


class _SettingsRateThrottle(SimpleRateThrottle):
    """Counts in the ``throttle`` cache, at the rate the settings hold when it is built.

    The ``throttle`` cache is Redis when ``REDIS_URL`` is set, so every daphne
    process shares the counters. DRF's own classes copy the rates once at
    import, so a changed setting (tests, or a reload) would go unseen.
    """

    def __init__(self):
        self.cache = caches[THROTTLE_CACHE]
        super().__init__()

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except (RedisError, OSError):
            # NOTE: a throttle that cannot reach its counters lets the request
            # through: an outage of the cache must not take the API down with it.
            logger.warning("throttle %s cannot reach its cache", self.scope, exc_info=True)
            return True


class LoginThrottle(_SettingsRateThrottle):
    """Token logins per client address: slows down password guessing."""

    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class SendThrottle(_SettingsRateThrottle):
    """Message sends (POST) per user; reads of the same view are not counted."""

    scope = "send"

    def allow_request(self, request, view):
        if request.method != "POST":
            return True
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


# --- error responses for the schema -----------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
    },
    "required": ["detail"],
}
BAD_REQUEST_SCHEMA = {
    "type": "object",
    "description": (
        '{"detail", "code"} for a request the service refused, or DRF field errors: '
        "each field (or non_field_errors) maps to a list of messages."
    ),
    "additionalProperties": True,
}


def error(description):
    return OpenApiResponse(response=ERROR_SCHEMA, description=description)


BAD_REQUEST = OpenApiResponse(
    response=BAD_REQUEST_SCHEMA,
    description="Malformed JSON, a wrong type, a missing field or a refused value.",
)
UNAUTHENTICATED = error("No credentials, a bad token, or a deactivated user.")
FORBIDDEN = error("Authenticated but not allowed (also: missing CSRF token with a session).")
NOT_FOUND = error("No such object, or not visible to you (rooms you are not a member of).")
TOO_LARGE = error("The body is larger than the limit.")
UNSUPPORTED = error("The body is not application/json.")
THROTTLED = error("Too many requests; the Retry-After header says how many seconds to wait.")


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    {"type": "string", "pattern": "^[0-9]+$"},
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before the next attempt.",
)


def errors(*codes):
    """The error responses of an endpoint, for ``extend_schema(responses=...)``."""
    table = {
        400: BAD_REQUEST,
        401: UNAUTHENTICATED,
        403: FORBIDDEN,
        404: NOT_FOUND,
        409: error("The object's state does not allow it."),
        413: TOO_LARGE,
        415: UNSUPPORTED,
        429: THROTTLED,
    }
    return {code: table[code] for code in codes}
