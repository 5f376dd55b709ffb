"""A real Celery worker delivers a digest to a real SMTP server on loopback."""

import asyncio
import email
import email.policy
import time

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.live import free_port
from tests.wsclient import WsClient


class Mailbox:
    """An SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self):
        self.envelopes = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"

    async def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while len(self.envelopes) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.envelopes)} emails after {timeout}s")
            await asyncio.sleep(0.2)
        return [
            email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes
        ]


@pytest.fixture
def mailbox():
    box = Mailbox()
    box.controller.start()
    yield box
    box.controller.stop()


@pytest.mark.parametrize("db,layer", [("sqlite", "memory"), ("postgres", "redis")])
async def test_a_worker_emails_one_digest_with_escaped_html_and_a_working_unsubscribe_link(
    live_stack, mailbox, db, layer
):
    port = free_port()
    site = f"http://127.0.0.1:{port}"
    stack = live_stack(
        db=db,
        layer=layer,
        env={
            "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
            "SITE_URL": site,
            "DEFAULT_FROM_EMAIL": "Chat <chat@example.org>",
        },
    )
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from notifications import services\n"
        f"bob = get_user_model().objects.get(pk={bob['id']})\n"
        "services.preference_update(user=bob, email_delay_seconds=2)\n"
        "print(json.dumps(True))"
    )
    node = stack.start_daphne(port=port)
    worker = stack.start_worker()
    a = await WsClient.open(node.ws_url, alice["token"])
    try:
        await a.say(room, '<script>alert("hi")</script> & more', "m1")
        await a.expect("message.ack")
        await a.say(room, "second one, @bob", "m2")
        await a.expect("message.ack")
    finally:
        await a.close()

    (received,) = await mailbox.wait_for(1)
    assert mailbox.envelopes[0].rcpt_tos == ["bob@example.com"]
    assert received["To"] == "bob@example.com"
    assert received["From"] == "Chat <chat@example.org>"
    assert received["Subject"] == "You missed 2 messages in general"
    assert received["Message-ID"].startswith("<digest-")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert '<script>alert("hi")</script> & more' in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; &amp; more" in html
    assert "[mentions you]" in text and "mentions you</span>" in html
    assert f'href="{site}/?room={room}"' in html and f"{site}/?room={room}" in text

    unsubscribe = received["List-Unsubscribe"].strip().strip("<>")
    assert unsubscribe.startswith(f"{site}/notifications/unsubscribe/")
    assert unsubscribe in text and unsubscribe in html
    async with httpx.AsyncClient() as http:
        page = await http.get(unsubscribe)
        assert page.status_code == 200 and "Turn off email notifications" in page.text
        # What a mail client's one-click unsubscribe sends (RFC 8058).
        done = await http.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "will get no more" in done.text
    turned_off = stack.shell(
        "import json\n"
        "from notifications.models import NotificationPreference\n"
        f"print(json.dumps(NotificationPreference.objects.get(user_id={bob['id']}).email))"
    )
    assert turned_off is False

    # One digest, one email: nothing else arrives, and the worker logged the send.
    await asyncio.sleep(3)
    assert len(mailbox.envelopes) == 1
    assert "sent to user" in worker.output()


async def test_the_workers_beat_sweep_sends_a_digest_whose_task_was_never_enqueued(
    live_stack, mailbox, tmp_path
):
    stack = live_stack(
        env={
            "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
            "NOTIFICATIONS_SWEEP_SECONDS": "1",
            "NOTIFICATIONS_SWEEP_GRACE_SECONDS": "0",
        }
    )
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    # A process that dies after the message (and its pending row) committed,
    # but before it enqueued the digest's task: the receiver's write without
    # its enqueue, exactly.
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat import services as chat, signals\n"
        "from notifications import services\n"
        "signals.message_sent.disconnect(dispatch_uid='notifications.pend_digest_on_message_sent')\n"
        "U = get_user_model()\n"
        f"services.preference_update(user=U.objects.get(pk={bob['id']}), email_delay_seconds=0)\n"
        f"m, _ = chat.message_send(user=U.objects.get(pk={alice['id']}), room_id={room},"
        " body='were you there?', client_id='lost-1')\n"
        "print(json.dumps(services.digest_pend(message=m)[0][0]))"
    )
    stack.start_worker("-B", "--schedule", str(tmp_path / "beat-schedule"))
    (received,) = await mailbox.wait_for(1)
    assert "were you there?" in received.get_body(("plain",)).get_content()
    # Later sweeps find nothing more to send.
    await asyncio.sleep(3)
    assert len(mailbox.envelopes) == 1


class StallingMailbox(Mailbox):
    """Holds the first DATA for ``stall_for`` open, like an SMTP server that hangs mid-exchange."""

    def __init__(self, stall_for):
        super().__init__()
        self.stall_for = stall_for
        self.stalled = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_DATA(self, server, session, envelope):
        if self.stall_for in envelope.rcpt_tos and not self.stalled.is_set():
            self.stalled.set()
            await self.release.wait()
            return "451 Too late"
        return await super().handle_DATA(server, session, envelope)


async def test_a_worker_killed_mid_smtp_repeats_at_most_that_one_email(live_stack, tmp_path):
    mailbox = StallingMailbox(stall_for="carol@example.com")
    mailbox.controller.start()
    try:
        stack = live_stack(
            env={
                "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
                "NOTIFICATIONS_SWEEP_SECONDS": "1",
                "NOTIFICATIONS_SWEEP_GRACE_SECONDS": "0",
                "NOTIFICATIONS_STALE_SENDING_SECONDS": "2",
            }
        )
        alice, bob, carol = (stack.create_user(n) for n in ("alice", "bob", "carol"))
        room = stack.create_room("general", alice, [bob, carol])
        first = stack.start_worker(name="first-worker")
        stack.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from chat import services as chat\n"
            "from notifications import services\n"
            "U = get_user_model().objects\n"
            f"services.preference_update(user=U.get(pk={bob['id']}), email_delay_seconds=0)\n"
            f"services.preference_update(user=U.get(pk={carol['id']}), email_delay_seconds=2)\n"
            f"chat.message_send(user=U.get(pk={alice['id']}), room_id={room},"
            " body='standup in 5', client_id='s-1')\n"
            "print(json.dumps(True))"
        )
        await mailbox.wait_for(1)  # bob's
        await asyncio.wait_for(mailbox.stalled.wait(), 30)  # carol's is mid-DATA
        first.kill()
        mailbox.release.set()

        stack.start_worker("-B", "--schedule", str(tmp_path / "beat-schedule"), name="second")
        await mailbox.wait_for(2)
        await asyncio.sleep(4)  # a few more sweeps
        assert sorted(e.rcpt_tos[0] for e in mailbox.envelopes) == [
            "bob@example.com",
            "carol@example.com",
        ]
    finally:
        mailbox.controller.stop()


def test_without_email_url_the_worker_prints_the_digest_in_its_log(live_stack):
    stack = live_stack()
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    worker = stack.start_worker()
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat import services as chat\n"
        "from notifications import services\n"
        "U = get_user_model().objects\n"
        f"services.preference_update(user=U.get(pk={bob['id']}), email_delay_seconds=0)\n"
        f"chat.message_send(user=U.get(pk={alice['id']}), room_id={room},"
        " body='printed, not sent', client_id='c-1')\n"
        "print(json.dumps(True))"
    )
    deadline = time.monotonic() + 30
    while "sent to user" not in worker.output() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = worker.output()
    assert "Subject: You missed 1 message in general" in log
    assert "To: bob@example.com" in log and "printed, not sent" in log


def test_concurrent_messages_for_one_user_share_one_digest_on_postgresql(live_stack):
    stack = live_stack(db="postgres")
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    rooms = [stack.create_room(f"room {n}", alice, [bob]) for n in range(6)]
    # Six messages pend for bob at the same instant, from six threads: only
    # one may open his digest, and every message must join it.
    result = stack.shell(
        "import json, threading\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.db import connection\n"
        "from chat import services as chat, signals\n"
        "from notifications import services\n"
        "from notifications.models import Digest, PendingNotification\n"
        "signals.message_sent.disconnect(dispatch_uid='notifications.pend_digest_on_message_sent')\n"
        f"alice = get_user_model().objects.get(pk={alice['id']})\n"
        "messages = [chat.message_send(user=alice, room_id=r, body='hi', client_id='c')[0]"
        f" for r in {rooms!r}]\n"
        "barrier = threading.Barrier(len(messages))\n"
        "opened = []\n"
        "def pend(m):\n"
        "    barrier.wait()\n"
        "    try:\n"
        "        opened.extend(services.digest_pend(message=m))\n"
        "    finally:\n"
        "        connection.close()\n"
        "threads = [threading.Thread(target=pend, args=(m,)) for m in messages]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(json.dumps({'opened': len(opened), 'digests': Digest.objects.count(),"
        " 'pending': PendingNotification.objects.filter(digest__status='open').count()}))"
    )
    assert result == {"opened": 1, "digests": 1, "pending": 6}


async def test_a_burst_from_daphne_is_pended_by_the_worker_in_one_task_and_emailed_once(
    live_stack, mailbox
):
    stack = live_stack(env={"EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}"})
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from notifications import services\n"
        f"bob = get_user_model().objects.get(pk={bob['id']})\n"
        "services.preference_update(user=bob, email_delay_seconds=2)\n"
        "print(json.dumps(True))"
    )
    node = stack.start_daphne()
    worker = stack.start_worker()
    a = await WsClient.open(node.ws_url, alice["token"])
    try:
        for n in range(20):
            await a.say(room, f"burst {n}", f"b-{n}")
        for _ in range(20):
            await a.expect("message.ack")
    finally:
        await a.close()

    (received,) = await mailbox.wait_for(1)
    assert received["Subject"] == "You missed 20 messages in general"
    text = received.get_body(("plain",)).get_content()
    lines = set(text.splitlines())
    assert all(f"burst {n}" in lines for n in range(20))
    await asyncio.sleep(3)
    assert len(mailbox.envelopes) == 1
    # The receivers in daphne published the twenty ids together, not one task each.
    pend_tasks = [
        line
        for line in worker.output().splitlines()
        if "notifications.tasks.digest_pend_messages[" in line and "received" in line
    ]
    assert 1 <= len(pend_tasks) <= 3


async def test_the_workers_beat_sweep_pends_a_message_whose_pend_task_was_lost(
    live_stack, mailbox, tmp_path
):
    stack = live_stack(
        env={
            "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
            "NOTIFICATIONS_SWEEP_SECONDS": "1",
            "NOTIFICATIONS_PEND_GRACE_SECONDS": "1",
        }
    )
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    # A daphne node that died between the commit and publishing the pend task:
    # the message is stored, and nothing else happened.
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat import services as chat, signals\n"
        "from notifications import services\n"
        "signals.message_sent.disconnect(dispatch_uid='notifications.pend_digest_on_message_sent')\n"
        "U = get_user_model()\n"
        f"services.preference_update(user=U.objects.get(pk={bob['id']}), email_delay_seconds=0)\n"
        f"chat.message_send(user=U.objects.get(pk={alice['id']}), room_id={room},"
        " body='did this get lost?', client_id='lost-2')\n"
        "print(json.dumps(True))"
    )
    worker = stack.start_worker("-B", "--schedule", str(tmp_path / "beat-schedule"))
    (received,) = await mailbox.wait_for(1)
    assert received["To"] == "bob@example.com"
    assert "did this get lost?" in received.get_body(("plain",)).get_content()
    await asyncio.sleep(3)  # later sweeps find the message handled
    assert len(mailbox.envelopes) == 1
    assert "pend task never ran" in worker.output()
