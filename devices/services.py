"""Device registry use cases: register, unregister, deactivate, test push.

``device_register`` is the one path for both ``POST /api/devices/`` and the
``X-Device-ID`` header (docs/push.md, "Registering a device").
"""

import base64
import binascii
import json
import logging
import uuid
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from chatproject.enqueue import enqueue

from . import signals
from .models import Device

logger = logging.getLogger(__name__)

TOKEN_MAX = 2048


class InvalidDevice(ValueError):
    """The registration is malformed; ``field`` names the offending field."""

    def __init__(self, field, detail):
        self.field, self.detail = field, detail
        super().__init__(detail)


def _host_allowed(host):
    allowed = settings.PUSH_WEBPUSH_ALLOWED_HOSTS
    return any(host == suffix or host.endswith("." + suffix) for suffix in allowed)


def _b64url_length(value):
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error):
        return -1


def canonical_web_subscription(token):
    """A browser's PushSubscription JSON, checked and re-encoded canonically.

    The endpoint is where the worker will POST, so only push services listed
    in ``PUSH_WEBPUSH_ALLOWED_HOSTS`` are accepted: a client cannot make the
    worker call an arbitrary address.
    """
    try:
        data = json.loads(token)
        endpoint = data["endpoint"]
        keys = {"p256dh": data["keys"]["p256dh"], "auth": data["keys"]["auth"]}
    except (ValueError, TypeError, KeyError, RecursionError):
        raise InvalidDevice(
            "token",
            "A web token must be the subscription's JSON: endpoint, keys.p256dh, keys.auth.",
        ) from None
    if not all(isinstance(v, str) and v for v in [endpoint, *keys.values()]):
        raise InvalidDevice("token", "The subscription's endpoint and keys must be strings.")
    # An uncompressed P-256 point and a 16-byte secret (RFC 8291): checked
    # here so that a subscription that can never be encrypted for is refused.
    if _b64url_length(keys["p256dh"]) != 65 or _b64url_length(keys["auth"]) != 16:
        raise InvalidDevice("token", "The subscription's keys are not valid.")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidDevice("token", "The subscription's endpoint must be an http(s) URL.")
    if parts.scheme == "http" and not settings.PUSH_WEBPUSH_ALLOW_HTTP:
        raise InvalidDevice("token", "The subscription's endpoint must use https.")
    if not _host_allowed(parts.hostname):
        raise InvalidDevice("token", "The subscription's endpoint is not a known push service.")
    return json.dumps({"endpoint": endpoint, "keys": keys}, sort_keys=True, separators=(",", ":"))


def _clean(value, field, *, limit, required):
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidDevice(field, f"'{field}' must be a string.")
    value = value.strip()
    if required and not value:
        raise InvalidDevice(field, f"'{field}' must not be empty.")
    if len(value) > limit or any(ord(c) < 32 or c == "\x7f" for c in value):
        raise InvalidDevice(field, f"'{field}' must be at most {limit} printable characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from JSON: no database can store it
        raise InvalidDevice(field, f"'{field}' must be valid Unicode.") from None
    return value


def device_token_normalize(*, platform, token):
    """The stored form of ``token`` for ``platform``; raises ``InvalidDevice``."""
    if platform not in Device.Platform.values:
        raise InvalidDevice("platform", f"'platform' must be one of {', '.join(Device.Platform)}.")
    token = _clean(token, "token", limit=TOKEN_MAX, required=True)
    if platform == Device.Platform.WEB:
        token = canonical_web_subscription(token)
        if len(token) > TOKEN_MAX:
            raise InvalidDevice("token", "The subscription is too long.")
    elif any(c.isspace() for c in token):
        raise InvalidDevice("token", "'token' must not contain spaces.")
    return token


def device_register(*, user, platform, token, device_id="", app_id=""):
    """Register ``token`` for ``user``; returns ``(device, created)``.

    Idempotent: registering the same token again only refreshes it.
    ``created`` is True when the device is new to this user: a new token, one
    moved from another user, or a deactivated one coming back. Raises
    ``InvalidDevice`` for bad input.
    """
    token = device_token_normalize(platform=platform, token=token)
    device_id = _clean(device_id, "device_id", limit=255, required=False)
    app_id = _clean(app_id, "app_id", limit=255, required=False)
    now = timezone.now()
    fields = {
        "user": user,
        "platform": platform,
        "active": True,
        "deactivated_reason": "",
        "last_seen_at": now,
    }
    # Left out rather than blanked: the header path knows only the token.
    fields.update({k: v for k, v in (("device_id", device_id), ("app_id", app_id)) if v})
    try:
        with transaction.atomic():
            device, created, previous_user_id = _upsert(token, fields)
    except IntegrityError:
        # A concurrent request registered the same token first (apps send
        # the header on parallel requests); the row exists now, so update it.
        with transaction.atomic():
            device, created, previous_user_id = _upsert(token, fields)
    if created:
        logger.info(
            "device %s (%s) registered for user %s (previous user %s)",
            device.pk,
            platform,
            user.pk,
            previous_user_id,
        )
        transaction.on_commit(partial(_announce_registered, device, previous_user_id))
    return device, created


def _announce_registered(device, previous_user_id):
    """Send ``device_registered``; a failing receiver is logged and never undoes the write."""
    results = signals.device_registered.send_robust(
        sender=Device, device=device, previous_user_id=previous_user_id
    )
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error(
                "device_registered receiver %s failed",
                getattr(receiver, "__qualname__", receiver),
                exc_info=result,
            )


def _upsert(token, fields):
    device = Device.objects.select_for_update().filter(token=token).first()
    if device is None:
        device = Device.objects.create(token=token, **fields)
        created, previous_user_id = True, None
    else:
        previous_user_id = device.user_id if device.user_id != fields["user"].pk else None
        created = previous_user_id is not None or not device.active
        for name, value in fields.items():
            setattr(device, name, value)
        device.save()
    if device.device_id:
        # The same installation under a new token: the old token is dead or
        # about to be, and keeping it would show every push twice.
        Device.objects.filter(
            user=fields["user"],
            platform=fields["platform"],
            device_id=device.device_id,
            active=True,
        ).exclude(pk=device.pk).update(active=False, deactivated_reason="replaced by a new token")
    return device, created, previous_user_id


def device_seen(*, user, platform, token, device_id=""):
    """The ``X-Device-ID`` header path: register, but write only when something changed.

    An app sends the header on every request; a registration that is
    current and was refreshed within ``PUSH_DEVICE_SEEN_INTERVAL`` seconds
    costs one indexed read and no write.
    """
    try:
        normalized = device_token_normalize(platform=platform, token=token)
    except InvalidDevice as exc:
        logger.info("ignored X-Device-ID header of user %s: %s", user.pk, exc.detail)
        return None
    fresh_after = timezone.now() - timedelta(seconds=settings.PUSH_DEVICE_SEEN_INTERVAL)
    current = Device.objects.filter(
        token=normalized,
        user=user,
        platform=platform,
        active=True,
        last_seen_at__gte=fresh_after,
    ).first()
    if current is not None and (not device_id or current.device_id == device_id):
        return current
    try:
        device, _ = device_register(
            user=user, platform=platform, token=normalized, device_id=device_id
        )
    except InvalidDevice as exc:
        logger.info("ignored X-Device-ID header of user %s: %s", user.pk, exc.detail)
        return None
    return device


def device_unregister(*, user, token):
    """Forget the user's device with ``token``; returns False when they have none."""
    candidates = {token}
    # A web subscription may come back in another key order than it was stored in.
    try:
        data = json.loads(token)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        candidates.add(json.dumps(data, sort_keys=True, separators=(",", ":")))
    deleted, _ = Device.objects.filter(user=user, token__in=candidates).delete()
    if deleted:
        logger.info("device of user %s unregistered", user.pk)
    return bool(deleted)


def device_deactivate(*, device_id, reason):
    """Stop pushing to a device (a provider rejected its token, or an admin asked)."""
    changed = Device.objects.filter(pk=device_id, active=True).update(
        active=False, deactivated_reason=reason[:200]
    )
    if changed:
        logger.info("device %s deactivated: %s", device_id, reason)
    return bool(changed)


def device_push_test(*, device_ids):
    """Enqueue one test push per device (the admin's "send test push")."""
    from .tasks import push_test

    count = 0
    for pk in device_ids:
        nonce = uuid.uuid4().hex
        transaction.on_commit(partial(enqueue, push_test, pk, nonce))
        count += 1
    return count
