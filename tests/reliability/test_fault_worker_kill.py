"""A Celery worker SIGKILLed in the middle of push and email work (docs/reliability.md).

PostgreSQL and Redis as in production, a stand-in FCM server that answers
slowly and a local SMTP server that accepts slowly, so that when the first
worker (two processes: push and email run side by side) is killed, both
kinds of work are under way. After a second worker starts, every device has
its push and every recipient their email, and nothing arrived twice beyond
the one provider request and the one SMTP transaction in flight at the kill.
"""

import asyncio
import re
import time
from collections import Counter

import pytest
from aiosmtpd.controller import Controller

from tests.devices.standins import FCMStandin
from tests.live import free_port, need
from tests.reliability.faults import populate

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

DEVICES = [f"bob-phone-{i:02d}" for i in range(8)]
RECIPIENTS = ["bob", "carol", "dave", "erin", "frank", "gina"]


class SlowMailbox:
    """An SMTP server on loopback that takes ``delay`` seconds to accept each email."""

    def __init__(self, delay):
        self.delay, self.rcpts, self.port = delay, [], free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        self.rcpts.extend(envelope.rcpt_tos)
        return "250 Message accepted"


async def _until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout}s")
        await asyncio.sleep(0.05)


async def test_a_worker_killed_mid_push_and_email_loses_nothing_and_repeats_at_most_one_each(
    live_stack, tmp_path
):
    need("postgres")
    need("redis")
    fcm = FCMStandin(tmp_path)
    fcm.script.delay = 0.4
    mailbox = SlowMailbox(delay=0.7)
    mailbox.controller.start()
    try:
        stack = live_stack(
            db="postgres",
            layer="redis",
            env={
                **{k: str(v) for k, v in fcm.settings().items()},
                "PUSH_ANDROID_BACKEND": "fcm",
                "PUSH_TIMEOUT": "2",
                "PUSH_CLAIM_LEASE": "4",
                "CELERY_VISIBILITY_TIMEOUT": "5",
                "CELERY_RESTORE_INTERVAL": "1",
                "EMAIL_URL": f"smtp://127.0.0.1:{mailbox.port}",
                "NOTIFICATIONS_SWEEP_SECONDS": "1",
                "NOTIFICATIONS_SWEEP_GRACE_SECONDS": "0",
                "NOTIFICATIONS_STALE_SENDING_SECONDS": "2",
            },
        )
        users, room = populate(stack, ["alice", *RECIPIENTS])
        ids = {u["username"]: u["id"] for u in users}
        stack.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from devices import services as devices\n"
            "from notifications import services as notifications\n"
            "U = get_user_model().objects\n"
            f"for name in {RECIPIENTS!r}:\n"
            "    notifications.preference_update(user=U.get(username=name), "
            "email_delay_seconds=0)\n"
            f"for token in {DEVICES!r}:\n"
            f"    devices.device_register(user=U.get(pk={ids['bob']}), platform='android', "
            "token=token)\n"
            "print(json.dumps(True))"
        )
        first = stack.start_worker("-c", "2", name="first")
        stack.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from chat import services\n"
            f"alice = get_user_model().objects.get(pk={ids['alice']})\n"
            f"services.message_send(user=alice, room_id={room}, body='standup now', "
            "client_id='k-1')\n"
            "print(json.dumps(True))"
        )
        # Kill while pushes are going out and an email is being accepted.
        await _until(
            lambda: len(fcm.script.requests) >= 2 and len(mailbox.rcpts) >= 1,
            60,
            "both push and email under way",
        )
        first.kill()
        pushed_at_kill, mailed_at_kill = len(fcm.script.requests), len(mailbox.rcpts)
        assert pushed_at_kill < len(DEVICES) and mailed_at_kill < len(RECIPIENTS), (
            "the work finished before the kill"
        )

        stack.start_worker("-c", "2", "-B", "--schedule", str(tmp_path / "beat"), name="second")
        await _until(lambda: set(fcm.script.tokens()) == set(DEVICES), 90, "every device pushed")
        expected_rcpts = {f"{name}@example.com" for name in RECIPIENTS}
        await _until(lambda: set(mailbox.rcpts) >= expected_rcpts, 90, "every recipient emailed")
        await asyncio.sleep(4)  # anything sent twice would show up now

        pushes, emails = Counter(fcm.script.tokens()), Counter(mailbox.rcpts)
        assert set(pushes) == set(DEVICES) and set(emails) == expected_rcpts
        assert sum(pushes.values()) <= len(DEVICES) + 1, pushes
        assert sum(emails.values()) <= len(RECIPIENTS) + 1, emails
    finally:
        mailbox.controller.stop()
        fcm.stop()


async def test_a_worker_killed_mid_push_is_repaired_by_the_sweep_not_by_broker_redelivery(
    live_stack, tmp_path
):
    """With an hour's visibility timeout, Redis cannot hand the killed task back in time."""
    need("postgres")
    need("redis")
    fcm = FCMStandin(tmp_path)
    fcm.script.delay = 0.4
    try:
        stack = live_stack(
            db="postgres",
            layer="redis",
            env={
                **{k: str(v) for k, v in fcm.settings().items()},
                "PUSH_ANDROID_BACKEND": "fcm",
                "PUSH_TIMEOUT": "2",
                "PUSH_CLAIM_LEASE": "4",
                "CELERY_VISIBILITY_TIMEOUT": "3600",
                "CELERY_RESTORE_INTERVAL": "1",
                "PUSH_SWEEP_SECONDS": "1",
                "PUSH_SWEEP_GRACE_SECONDS": "2",
            },
        )
        users, room = populate(stack, ["alice", "bob"])
        ids = {u["username"]: u["id"] for u in users}
        stack.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from devices import services as devices\n"
            f"bob = get_user_model().objects.get(pk={ids['bob']})\n"
            f"for token in {DEVICES!r}:\n"
            "    devices.device_register(user=bob, platform='android', token=token)\n"
            "print(json.dumps(True))"
        )
        first = stack.start_worker(name="first")
        stack.shell(
            "import json\n"
            "from django.contrib.auth import get_user_model\n"
            "from chat import services\n"
            f"alice = get_user_model().objects.get(pk={ids['alice']})\n"
            f"services.message_send(user=alice, room_id={room}, body='standup now', "
            "client_id='k-1')\n"
            "print(json.dumps(True))"
        )
        await _until(lambda: len(fcm.script.requests) >= 2, 60, "pushes under way")
        first.kill()
        assert len(fcm.script.requests) < len(DEVICES), "the batch finished before the kill"
        log = first.output()

        # One process: the FCM stand-in honours only the OAuth2 token it issued last.
        second = stack.start_worker("-B", "--schedule", str(tmp_path / "beat"), name="second")
        await _until(lambda: set(fcm.script.tokens()) == set(DEVICES), 60, "every device pushed")
        await asyncio.sleep(4)  # anything sent twice would show up now

        pushes = Counter(fcm.script.tokens())
        assert set(pushes) == set(DEVICES)
        assert sum(pushes.values()) <= len(DEVICES) + 1, pushes
        assert list(pushes.values()).count(2) <= 1 and max(pushes.values()) <= 2, pushes
        # The sweep found the abandoned batch; the broker never handed the task back.
        assert re.search(r"push sweep: .* enqueued again: 1 message", second.output())
        [killed_task] = re.findall(r"devices\.tasks\.push_message\[([\w-]+)\] received", log)
        assert killed_task not in second.output()
    finally:
        fcm.stop()
