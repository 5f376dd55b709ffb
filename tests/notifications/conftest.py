"""Helpers for the notification tests: send as a user, then let the batch window close."""

import itertools
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from chat import services as chat
from notifications import services
from notifications.models import Digest

_client_ids = itertools.count(1)


@pytest.fixture
def send():
    """``send(user, room, body)`` stores a message exactly as a websocket send does."""

    def send_message(user, room, body):
        message, _ = chat.message_send(
            user=user, room_id=room.pk, body=body, client_id=f"t-{next(_client_ids)}"
        )
        return message

    return send_message


@pytest.fixture
def windows_close():
    """``windows_close(after=s)``: run the delivery of every digest due ``s`` seconds from now.

    This is what the scheduled ``digest_send`` task does when its ETA comes;
    running it here with a later clock keeps the tests from sleeping.
    """

    def close(after=86400 + 1):
        now = timezone.now() + timedelta(seconds=after)
        for digest_id in Digest.objects.filter(status=Digest.Status.OPEN).values_list(
            "pk", flat=True
        ):
            services.digest_deliver(digest_id=digest_id, now=now)
        return mail.outbox

    return close


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """These tests log in rarely; the default hasher would dominate their run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
