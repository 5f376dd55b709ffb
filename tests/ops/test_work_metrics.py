"""Push and email counters move where the work is done (devices.delivery, notifications)."""

from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from chat import services as chat
from devices import delivery
from devices import services as devices
from notifications import services as notifications
from notifications.models import Digest
from notifications.tasks import digest_pend_messages
from tests.live import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def counted(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_push_sent_through_the_log_backend_is_counted(alice, bob, room):
    devices.device_register(user=bob, platform="android", token="bob-phone")
    before = counted("chat_push_total", provider="log", outcome="sent", reason="")
    message, _ = chat.message_send(user=alice, room_id=room.pk, body="hi", client_id="p-1")
    result = delivery.push_message_deliver(message_id=message.pk)
    assert result.sent == 1
    assert counted("chat_push_total", provider="log", outcome="sent", reason="") == before + 1


def deliver_every_digest():
    later = timezone.now() + timedelta(days=2)
    outcomes = []
    for digest_id in Digest.objects.values_list("pk", flat=True):
        try:
            outcomes.append(notifications.digest_deliver(digest_id=digest_id, now=later))
        except Exception as exc:
            outcomes.append(type(exc).__name__)
    return outcomes


def test_a_missed_message_email_sent_is_counted(alice, bob, room):
    before = counted("chat_email_total", outcome="sent", reason="")
    message, _ = chat.message_send(user=alice, room_id=room.pk, body="lunch?", client_id="e-1")
    digest_pend_messages([message.pk])  # what the worker does with the receiver's hand-off
    assert deliver_every_digest() == ["sent"]
    assert counted("chat_email_total", outcome="sent", reason="") == before + 1


def test_an_email_to_an_smtp_server_that_is_down_is_counted_as_retried(alice, bob, room, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_TIMEOUT = 2
    labels = {"outcome": "retried", "reason": "ConnectionRefusedError"}
    before = counted("chat_email_total", **labels)
    message, _ = chat.message_send(user=alice, room_id=room.pk, body="lunch?", client_id="e-2")
    digest_pend_messages([message.pk])
    assert deliver_every_digest() == ["ConnectionRefusedError"]
    assert counted("chat_email_total", **labels) == before + 1
