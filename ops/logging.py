"""Log formatting with request and connection ids (docs/deployment.md, "Logs").

``LOG_FORMAT=json`` writes one JSON object per line; the default is readable
text. Either way every record carries the id of the HTTP request, websocket
connection or Celery task it was logged under, taken from context variables
that ``ops.middleware`` and ``ops.asgi`` set. Application code logs ids only;
as a safety net the JSON formatter also drops ``extra`` fields whose names
say they hold a body, a token or a credential.
"""

import contextvars
import json
import logging
from datetime import UTC, datetime

request_id = contextvars.ContextVar("request_id", default=None)
connection_id = contextvars.ContextVar("connection_id", default=None)
task_id = contextvars.ContextVar("task_id", default=None)

CONTEXT = (("request_id", request_id), ("connection_id", connection_id), ("task_id", task_id))

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "request",  # Django's HttpRequest: its repr shows the path
    *(name for name, _ in CONTEXT),
}
_SECRET_WORDS = ("body", "token", "password", "secret", "credential", "authorization", "key")


def route_of(request):
    """The URL pattern that served ``request``; never the path, which may hold a push token."""
    match = getattr(request, "resolver_match", None)
    return f"/{match.route}" if match is not None and match.route else "(unmatched path)"


class ContextFilter(logging.Filter):
    """Copies the current request, connection and task ids onto each record.

    It also withholds request paths from Django's own records (``django.request``
    logs ``"Unauthorized: /api/devices/<token>/"``): a path argument becomes the
    route pattern that matched it.
    """

    def filter(self, record):
        for name, var in CONTEXT:
            if not hasattr(record, name):
                setattr(record, name, var.get())
        request = getattr(record, "request", None)
        path = getattr(request, "path", None)
        if path and isinstance(record.args, tuple) and path in record.args:
            route = route_of(request)
            record.args = tuple(route if arg == path else arg for arg in record.args)
        return True


def _ids(record):
    return {name: getattr(record, name, None) for name, _ in CONTEXT}


class TextFormatter(logging.Formatter):
    """``time LEVEL logger message [request=... connection=...]``."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record):
        text = super().format(record)
        ids = " ".join(
            f"{name.removesuffix('_id')}={value}" for name, value in _ids(record).items() if value
        )
        if not ids:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{ids}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, extras, exception."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: value for name, value in _ids(record).items() if value})
        for name, value in vars(record).items():
            if name in _STANDARD or name.startswith("_"):
                continue
            if any(word in name.lower() for word in _SECRET_WORDS):
                continue
            plain = isinstance(value, (str, int, float, bool, type(None)))
            entry[name] = value if plain else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
