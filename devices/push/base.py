"""The interface every push provider implements, and the outcome of one send."""

import email.utils
import enum
import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Push:
    """What to show (or do) on a device, independent of the provider.

    ``kind`` is ``message``, ``clear`` or ``test``. ``data`` holds string
    values only (FCM's rule) and always carries ``type``; for messages also
    ``room``, ``seq`` and ``message`` so the app can open the room.
    """

    kind: str
    title: str = ""
    body: str = ""
    data: dict = field(default_factory=dict)
    # Notifications with the same tag replace each other (one per room).
    tag: str = ""


class Outcome(enum.Enum):
    SENT = "sent"
    # The provider says the token is unregistered or invalid: deactivate it.
    INVALID_TOKEN = "invalid_token"
    # 429, 5xx, timeouts, connection errors: try again later.
    TRANSIENT = "transient"
    # Authentication, configuration or a rejected payload: log, never retry.
    FAILED = "failed"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None
    # The error concerns the whole provider (bad credentials, throttled):
    # sending the rest of the batch now would fail the same way.
    stop_batch: bool = False


SENT = Result(Outcome.SENT)


class BackendError(Exception):
    """The backend could not even start (credentials, token endpoint)."""

    def __init__(self, result):
        self.result = result
        super().__init__(result.reason)


def retry_after_seconds(value):
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


class PushBackend:
    """Sends pushes through one provider during one batch.

    Use as a context manager: ``__enter__`` prepares credentials and a
    connection (raising ``BackendError`` when it cannot), ``send`` makes one
    provider request and classifies the answer, ``__exit__`` closes.
    Backends never raise from ``send``: every failure is a ``Result``.
    """

    name = "base"
    supports_clear = False

    def open(self):
        pass

    def close(self):
        pass

    def send(self, device, push):
        raise NotImplementedError

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()
