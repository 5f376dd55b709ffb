"""What a digest does when the SMTP server refuses it, against a real SMTP server on loopback."""

from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from notifications import services, tasks
from notifications.models import Digest
from tests.live import free_port

pytestmark = pytest.mark.django_db(transaction=True)


class ScriptedServer:
    """Answers each DATA with the next scripted reply, then accepts everything."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.attempts = 0
        self.accepted = []

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        self.accepted.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(settings):
    def start(*replies):
        server = ScriptedServer(replies)
        controller = Controller(server, hostname="127.0.0.1", port=free_port())
        controller.start()
        started.append(controller)
        server.port = controller.port
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        return server

    started = []
    yield start
    for controller in started:
        controller.stop()


def test_a_temporarily_refused_digest_is_retried_and_arrives_once(alice, bob, room, send, smtp):
    server = smtp("451 4.3.0 Try again later")
    services.preference_update(user=bob, email_delay_seconds=0)
    send(alice, room, "are you there?")
    (digest_id,) = Digest.objects.values_list("pk", flat=True)
    # apply() runs the task here as a worker would, retries included (without their delay).
    tasks.digest_send.apply((digest_id,))
    assert server.attempts == 2
    (envelope,) = server.accepted
    assert envelope.rcpt_tos == ["bob@example.com"]
    assert b"are you there?" in envelope.content
    tasks.digest_send.apply((digest_id,))
    services.digest_sweep()
    assert server.attempts == 2


def test_a_permanently_refused_digest_is_not_tried_again(alice, bob, room, send, smtp):
    server = smtp("550 5.1.1 No such mailbox")
    services.preference_update(user=bob, email_delay_seconds=0)
    send(alice, room, "hello?")
    (digest_id,) = Digest.objects.values_list("pk", flat=True)
    tasks.digest_send.apply((digest_id,))
    tasks.digest_send.apply((digest_id,))
    services.digest_sweep()
    assert server.attempts == 1 and server.accepted == []
    assert Digest.objects.get().get_status_display() == "Failed"


def test_an_unreachable_smtp_server_leaves_the_digest_for_the_sweep(
    alice, bob, room, send, smtp, settings
):
    server = smtp()
    settings.EMAIL_PORT = free_port()  # nothing listens there
    services.preference_update(user=bob, email_delay_seconds=0)
    send(alice, room, "ping")
    (digest_id,) = Digest.objects.values_list("pk", flat=True)
    with pytest.raises(ConnectionRefusedError):
        services.digest_deliver(digest_id=digest_id)
    settings.EMAIL_PORT = server.port  # the server is back
    services.digest_sweep(now=timezone.now() + timedelta(seconds=60))
    (envelope,) = server.accepted
    assert b"ping" in envelope.content
