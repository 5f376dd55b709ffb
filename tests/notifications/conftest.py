"""Helpers for the notification tests: send as a user, run the worker's pend, close windows."""

import itertools
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from chat import services as chat
from chatproject import enqueue
from notifications import services, tasks
from notifications.models import Digest
from tests import broker

_client_ids = itertools.count(1)


PEND_TASK = "notifications.tasks.digest_pend_messages"


@pytest.fixture
def run_pend_tasks():
    """``run_pend_tasks()`` runs the pend tasks the receivers published, as a worker would.

    Nothing consumes the suite's broker, so the calls are taken off it and run
    here. Returns their argument lists.
    """
    # An earlier test's leftovers name other messages; some may still wait in
    # the publisher's linger window.
    assert enqueue.flush(timeout=10)
    broker.take(PEND_TASK)

    def run():
        assert enqueue.flush(timeout=10)
        calls = broker.take(PEND_TASK)
        for args in calls:
            tasks.digest_pend_messages(*args)
        return calls

    return run


@pytest.fixture
def send(run_pend_tasks):
    """``send(user, room, body)`` stores a message exactly as a websocket send does,
    then runs the pend task that the send published, as the worker does a moment later."""

    def send_message(user, room, body):
        message, _ = chat.message_send(
            user=user, room_id=room.pk, body=body, client_id=f"t-{next(_client_ids)}"
        )
        calls = run_pend_tasks()
        assert any(message.pk in message_ids for (message_ids,) in calls)
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
