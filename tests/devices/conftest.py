"""Fixtures of the push tests: stand-in providers wired into the settings, devices, senders."""

import itertools

import pytest

from chat import services as chat
from devices.models import Device

from .standins import APNsStandin, FCMStandin, WebPushStandin, WebSubscriber, vapid_key_file

_client_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Users are made in every test here; their password hashing is not what is tested."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def fcm(settings, tmp_path):
    standin = FCMStandin(tmp_path)
    for name, value in standin.settings().items():
        setattr(settings, name, value)
    settings.PUSH_BACKENDS = {**settings.PUSH_BACKENDS, "android": "fcm"}
    yield standin
    standin.stop()


@pytest.fixture
def apns(settings, tmp_path):
    standin = APNsStandin(tmp_path)
    for name, value in standin.settings().items():
        setattr(settings, name, value)
    settings.PUSH_BACKENDS = {**settings.PUSH_BACKENDS, "ios": "apns"}
    yield standin
    standin.stop()


@pytest.fixture
def webpush_service(settings, tmp_path):
    standin = WebPushStandin()
    key_file, standin.vapid_public_key = vapid_key_file(tmp_path)
    settings.PUSH_VAPID_PRIVATE_KEY = str(key_file)
    settings.PUSH_VAPID_SUBJECT = "mailto:ops@example.com"
    settings.PUSH_WEBPUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.PUSH_WEBPUSH_ALLOW_HTTP = True
    settings.PUSH_BACKENDS = {**settings.PUSH_BACKENDS, "web": "webpush"}
    standin.subscriber = lambda name: WebSubscriber(standin, name)
    yield standin
    standin.stop()


@pytest.fixture
def device(db):
    """``device(user, platform, token)`` registers an active device directly."""
    from devices import services

    def make(user, platform, token, **extra):
        found, _ = services.device_register(user=user, platform=platform, token=token, **extra)
        return found

    return make


@pytest.fixture
def send():
    """``send(user, room, body)`` stores a message as a websocket send does."""

    def send_message(user, room, body="hello"):
        message, _ = chat.message_send(
            user=user, room_id=room.pk, body=body, client_id=f"d-{next(_client_ids)}"
        )
        return message

    return send_message


def active(device_):
    return Device.objects.get(pk=device_.pk).active
