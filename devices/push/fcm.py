"""Firebase Cloud Messaging, HTTP v1 API, authenticated with a service account.

google-auth signs the service account's JWT and trades it for an OAuth2
access token at the account's ``token_uri``; the token is cached per process
and refreshed before it expires. Errors follow
https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode.
"""

import functools
import json
import logging
import threading

import google.auth.exceptions
import google.auth.transport.requests
import httpx
import requests
from django.conf import settings
from google.oauth2 import service_account

from .base import SENT, BackendError, Outcome, PushBackend, Result, retry_after_seconds

logger = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"

_credentials_lock = threading.Lock()


@functools.cache
def _credentials(path):
    """One credentials object per process, so its access token is reused across tasks."""
    with open(path) as f:
        info = json.load(f)
    return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])


class FCMBackend(PushBackend):
    name = "fcm"
    supports_clear = True

    def open(self):
        path = settings.PUSH_FCM_CREDENTIALS
        if not path:
            raise BackendError(Result(Outcome.FAILED, "PUSH_FCM_CREDENTIALS is not set"))
        try:
            self.credentials = _credentials(path)
        except (OSError, ValueError, KeyError) as exc:
            raise BackendError(
                Result(Outcome.FAILED, f"unreadable FCM service account: {exc}")
            ) from None
        project = settings.PUSH_FCM_PROJECT_ID or self.credentials.project_id
        if not project:
            raise BackendError(Result(Outcome.FAILED, "no FCM project id"))
        self.url = f"{settings.PUSH_FCM_ENDPOINT.rstrip('/')}/v1/projects/{project}/messages:send"
        self.session = requests.Session()
        self.client = httpx.Client(http2=True, timeout=settings.PUSH_TIMEOUT)
        self._refresh()

    def close(self):
        self.client.close()
        self.session.close()

    def _refresh(self):
        if self.credentials.valid:
            return
        transport = google.auth.transport.requests.Request(self.session)

        def request(*args, **kwargs):
            kwargs["timeout"] = settings.PUSH_TIMEOUT
            return transport(*args, **kwargs)

        try:
            with _credentials_lock:
                if not self.credentials.valid:
                    self.credentials.refresh(request)
        except google.auth.exceptions.TransportError as exc:
            raise BackendError(Result(Outcome.TRANSIENT, f"FCM token endpoint: {exc}")) from None
        except google.auth.exceptions.RefreshError as exc:
            outcome = Outcome.TRANSIENT if getattr(exc, "retryable", False) else Outcome.FAILED
            raise BackendError(
                Result(outcome, f"FCM OAuth2 token refused: {exc}", stop_batch=True)
            ) from None

    def message(self, device, push):
        data = {"type": push.kind, **push.data}
        message = {"token": device.token, "data": data}
        if push.kind == "clear":
            # Data only, so the app's code runs and removes the room's notifications.
            message["android"] = {"priority": "normal"}
            message["apns"] = {
                "headers": {"apns-push-type": "background", "apns-priority": "5"},
                "payload": {"aps": {"content-available": 1}},
            }
            return message
        message["notification"] = {"title": push.title, "body": push.body}
        message["android"] = {"priority": "high", "notification": {"tag": push.tag}}
        message["apns"] = {"payload": {"aps": {"thread-id": push.tag, "sound": "default"}}}
        return message

    def send(self, device, push):
        try:
            self._refresh()
        except BackendError as exc:
            return exc.result
        try:
            response = self.client.post(
                self.url,
                json={"message": self.message(device, push)},
                headers={"Authorization": f"Bearer {self.credentials.token}"},
            )
        except httpx.TimeoutException:
            return Result(Outcome.TRANSIENT, "FCM timeout")
        except httpx.TransportError as exc:
            return Result(Outcome.TRANSIENT, f"FCM connection: {type(exc).__name__}")
        if response.status_code == 200:
            return SENT
        return classify(response)


def _error_code(body):
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", []
    details = error.get("details") if isinstance(error.get("details"), list) else []
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == FCM_ERROR_TYPE:
            return str(detail.get("errorCode", "")), details
    return str(error.get("status", "")), details


def _token_is_the_problem(details):
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == BAD_REQUEST_TYPE:
            for violation in detail.get("fieldViolations") or []:
                if isinstance(violation, dict) and violation.get("field") == "message.token":
                    return True
    return False


def classify(response):
    """The ``Result`` of a non-200 FCM answer."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    code, details = _error_code(body)
    reason = f"FCM {status} {code}".strip()
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    if code == "UNREGISTERED" or (code == "INVALID_ARGUMENT" and _token_is_the_problem(details)):
        return Result(Outcome.INVALID_TOKEN, reason)
    if status == 429 or code == "QUOTA_EXCEEDED":
        return Result(Outcome.TRANSIENT, reason, retry_after=retry_after, stop_batch=True)
    if status >= 500 or code in ("UNAVAILABLE", "INTERNAL"):
        return Result(Outcome.TRANSIENT, reason, retry_after=retry_after)
    if status in (401, 403) or code in ("THIRD_PARTY_AUTH_ERROR", "UNAUTHENTICATED"):
        # SENDER_ID_MISMATCH is a 403 too: the token belongs to another
        # Firebase project, which is a configuration problem, not a dead token.
        return Result(Outcome.FAILED, reason, stop_batch=code != "SENDER_ID_MISMATCH")
    return Result(Outcome.FAILED, reason)
