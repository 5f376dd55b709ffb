"""Web Push (RFC 8030) with VAPID (RFC 8292), through pywebpush.

pywebpush encrypts the payload for the subscription's keys (aes128gcm) and
signs the VAPID header; this module only classifies the push service's answer.
"""

import functools
import json
import logging
import os
from urllib.parse import urlsplit

import requests
from django.conf import settings
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from .base import SENT, BackendError, Outcome, PushBackend, Result, retry_after_seconds

logger = logging.getLogger(__name__)


@functools.cache
def _vapid(key):
    if os.path.isfile(key):
        return Vapid.from_file(private_key_file=key)
    return Vapid.from_string(private_key=key)


class WebPushBackend(PushBackend):
    name = "webpush"
    # Browsers require every push to show a notification, so a silent
    # "clear" push is not possible on the web.
    supports_clear = False

    def open(self):
        if not (settings.PUSH_VAPID_PRIVATE_KEY and settings.PUSH_VAPID_SUBJECT):
            raise BackendError(
                Result(Outcome.FAILED, "PUSH_VAPID_PRIVATE_KEY and PUSH_VAPID_SUBJECT must be set")
            )
        try:
            self.vapid = _vapid(settings.PUSH_VAPID_PRIVATE_KEY)
        except Exception as exc:  # py_vapid raises bare exceptions for bad keys
            raise BackendError(
                Result(Outcome.FAILED, f"VAPID key unusable: {type(exc).__name__}")
            ) from None
        self.session = requests.Session()

    def close(self):
        self.session.close()

    def send(self, device, push):
        from devices.services import InvalidDevice, canonical_web_subscription

        try:
            # Checked again at send time: the allow-list may have changed.
            subscription = json.loads(canonical_web_subscription(device.token))
        except InvalidDevice as exc:
            return Result(Outcome.FAILED, f"subscription refused: {exc.detail}")
        payload = {"type": push.kind, "title": push.title, "body": push.body, "tag": push.tag}
        payload.update(push.data)
        endpoint = urlsplit(subscription["endpoint"])
        try:
            webpush(
                subscription,
                data=json.dumps(payload, separators=(",", ":")),
                vapid_private_key=self.vapid,
                vapid_claims={
                    "sub": settings.PUSH_VAPID_SUBJECT,
                    "aud": f"{endpoint.scheme}://{endpoint.netloc}",
                },
                ttl=settings.PUSH_WEBPUSH_TTL,
                timeout=settings.PUSH_TIMEOUT,
                headers={"Urgency": "high"},
                requests_session=self.session,
            )
        except requests.Timeout:
            return Result(Outcome.TRANSIENT, "Web Push timeout")
        except requests.ConnectionError as exc:
            return Result(Outcome.TRANSIENT, f"Web Push connection: {type(exc).__name__}")
        except WebPushException as exc:
            return classify(exc)
        return SENT


def classify(exc):
    status = exc.status_code
    if status is None:
        # Raised before any request: the subscription's keys do not work.
        return Result(Outcome.FAILED, f"Web Push: {exc.message}")
    text = f"Web Push {status}"
    if status in (404, 410):
        return Result(Outcome.INVALID_TOKEN, text)
    retry_after = retry_after_seconds(exc.retry_after)
    if status == 429:
        return Result(Outcome.TRANSIENT, text, retry_after=retry_after, stop_batch=True)
    if status >= 500:
        return Result(Outcome.TRANSIENT, text, retry_after=retry_after)
    # A 403 can be one subscription made for another VAPID key, so only a
    # 401 (our signature itself refused) stops the batch.
    return Result(Outcome.FAILED, text, stop_batch=status == 401)
