"""Apple Push Notification service over HTTP/2 with token-based (JWT) authentication.

The provider token is an ES256 JWT signed with the team's .p8 key, reused for
50 minutes (Apple rejects tokens older than an hour and throttles ones
renewed more often than every 20 minutes). Reasons follow Apple's "Handling
notification responses from APNs".
"""

import logging
import ssl
import threading
import time

import httpx
import jwt
from django.conf import settings

from .base import SENT, BackendError, Outcome, PushBackend, Result, retry_after_seconds

logger = logging.getLogger(__name__)

TOKEN_LIFETIME = 50 * 60
DEAD_TOKEN = {"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"}
TRANSIENT = {"TooManyRequests", "InternalServerError", "ServiceUnavailable", "Shutdown"}
# Wrong for every device alike: stop the batch instead of repeating it.
WHOLE_PROVIDER = {
    "InvalidProviderToken",
    "ExpiredProviderToken",
    "MissingProviderToken",
    "TooManyProviderTokenUpdates",
    "BadTopic",
    "MissingTopic",
    "TopicDisallowed",
    "BadCertificate",
    "BadCertificateEnvironment",
    "Forbidden",
}

_token_lock = threading.Lock()
_token_cache = {}


def provider_token():
    """The cached JWT for the configured key, renewed after ``TOKEN_LIFETIME``."""
    key_file, key_id, team_id = (
        settings.PUSH_APNS_KEY_FILE,
        settings.PUSH_APNS_KEY_ID,
        settings.PUSH_APNS_TEAM_ID,
    )
    if not (key_file and key_id and team_id):
        raise BackendError(
            Result(
                Outcome.FAILED,
                "PUSH_APNS_KEY_FILE, PUSH_APNS_KEY_ID and PUSH_APNS_TEAM_ID must be set",
            )
        )
    now = int(time.time())
    with _token_lock:
        cached = _token_cache.get((key_file, key_id, team_id))
        if cached and now - cached[0] < TOKEN_LIFETIME:
            return cached[1]
        try:
            with open(key_file, "rb") as f:
                key = f.read()
            token = jwt.encode(
                {"iss": team_id, "iat": now}, key, algorithm="ES256", headers={"kid": key_id}
            )
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise BackendError(
                Result(Outcome.FAILED, f"APNs signing key unusable: {type(exc).__name__}")
            ) from None
        _token_cache[(key_file, key_id, team_id)] = (now, token)
        return token


class APNsBackend(PushBackend):
    name = "apns"
    supports_clear = True

    def open(self):
        self.token = provider_token()
        endpoint = settings.PUSH_APNS_ENDPOINT.rstrip("/")
        verify = True
        if settings.PUSH_APNS_CA_FILE:
            verify = ssl.create_default_context(cafile=settings.PUSH_APNS_CA_FILE)
        # APNs speaks only HTTP/2; over cleartext (a local stand-in) that
        # means prior knowledge, with no HTTP/1.1 to fall back to.
        http1 = not endpoint.startswith("http://")
        self.client = httpx.Client(
            base_url=endpoint,
            http1=http1,
            http2=True,
            verify=verify,
            timeout=settings.PUSH_TIMEOUT,
        )

    def close(self):
        self.client.close()

    def request(self, device, push):
        topic = device.app_id or settings.PUSH_APNS_TOPIC
        headers = {"authorization": f"bearer {self.token}", "apns-topic": topic}
        if push.kind == "clear":
            headers.update({"apns-push-type": "background", "apns-priority": "5"})
            payload = {"aps": {"content-available": 1}, "type": "clear", **push.data}
            return headers, payload
        headers.update({"apns-push-type": "alert", "apns-priority": "10"})
        if push.tag:
            headers["apns-collapse-id"] = push.tag
        aps = {
            "alert": {"title": push.title, "body": push.body},
            "sound": "default",
            "thread-id": push.tag,
            "mutable-content": 1,
        }
        return headers, {"aps": aps, "type": push.kind, **push.data}

    def send(self, device, push):
        headers, payload = self.request(device, push)
        if not headers["apns-topic"]:
            return Result(Outcome.FAILED, "PUSH_APNS_TOPIC is not set", stop_batch=True)
        try:
            response = self.client.post(f"/3/device/{device.token}", json=payload, headers=headers)
        except httpx.TimeoutException:
            return Result(Outcome.TRANSIENT, "APNs timeout")
        except httpx.TransportError as exc:
            return Result(Outcome.TRANSIENT, f"APNs connection: {type(exc).__name__}")
        if response.status_code == 200:
            return SENT
        return classify(response)


def classify(response):
    status = response.status_code
    try:
        reason = str(response.json().get("reason", ""))
    except (ValueError, AttributeError):
        reason = ""
    text = f"APNs {status} {reason}".strip()
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if status == 410 or reason in DEAD_TOKEN:
        return Result(Outcome.INVALID_TOKEN, text)
    if reason == "TooManyProviderTokenUpdates":
        return Result(Outcome.TRANSIENT, text, retry_after=retry_after, stop_batch=True)
    if status == 429 or reason in TRANSIENT or status >= 500:
        return Result(Outcome.TRANSIENT, text, retry_after=retry_after, stop_batch=status == 429)
    return Result(Outcome.FAILED, text, stop_batch=status == 403 or reason in WHOLE_PROVIDER)
