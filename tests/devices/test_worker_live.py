"""The push path end to end: real daphne, a real Celery worker, real brokers, stand-in providers.

The worker runs as ``celery -A chatproject worker`` on the embedded
file-system broker and on Redis; FCM is a local server (standins.py).
"""

import json
import re
import socket
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from tests.live import REDIS_URL, need
from tests.wsclient import WsClient

from .standins import FCMStandin, fcm_error

pytestmark = [pytest.mark.live, pytest.mark.slow]


def wait_until(condition, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not true after {timeout}s")


def register(stack, *devices):
    """Register ``(user, platform, token)`` devices in one ``manage.py shell``."""
    rows = [(user["id"], platform, token) for user, platform, token in devices]
    stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from devices import services\n"
        f"for pk, platform, token in {rows!r}:\n"
        "    u = get_user_model().objects.get(pk=pk)\n"
        "    services.device_register(user=u, platform=platform, token=token)\n"
        "print(json.dumps(True))"
    )


def send(stack, user, room, body):
    """Send as chat's services do for a websocket; the shell process enqueues and exits."""
    return stack.shell(
        "import json, uuid\n"
        "from django.contrib.auth import get_user_model\n"
        "from chat import services\n"
        f"u = get_user_model().objects.get(pk={user['id']})\n"
        f"m, _ = services.message_send(user=u, room_id={room}, body={body!r},"
        " client_id=uuid.uuid4().hex)\n"
        "print(json.dumps(m.pk))"
    )


def device_states(stack):
    return stack.shell(
        "import json\n"
        "from devices.models import Device\n"
        "print(json.dumps({d.token: d.active for d in Device.objects.all()}))"
    )


def delivery_states(stack):
    return stack.shell(
        "import json\n"
        "from devices.models import PushDelivery\n"
        "print(json.dumps(sorted(PushDelivery.objects.values_list('state', flat=True))))"
    )


@pytest.fixture
def fcm(tmp_path):
    standin = FCMStandin(tmp_path)
    yield standin
    standin.stop()


def fcm_env(fcm, **extra):
    env = {k: str(v) for k, v in fcm.settings().items()}
    env.update(PUSH_ANDROID_BACKEND="fcm", **{k: str(v) for k, v in extra.items()})
    return env


async def test_a_message_over_the_websocket_reaches_an_away_members_phone_on_the_embedded_broker(
    live_stack,
):
    stack = live_stack()
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    node = stack.start_daphne()
    registered = httpx.post(
        f"{node.base_url}/api/devices/",
        json={"platform": "android", "token": "bob-phone"},
        headers={"Authorization": f"Token {bob['token']}"},
    )
    assert registered.status_code == 201
    worker = stack.start_worker()
    a = await WsClient.open(node.ws_url, alice["token"])
    try:
        await a.say(room, "are you there?")
        ack = await a.expect("message.ack")
    finally:
        await a.close()
    line = f"push (log backend): message to device {registered.json()['id']} (android)"
    wait_until(lambda: line in worker.output())
    time.sleep(1)
    assert worker.output().count("push (log backend)") == 1
    assert f"room {room} seq {ack['message']['seq']}" in worker.output()
    assert "are you there" not in worker.output()


def test_a_worker_on_redis_retries_transient_errors_and_deactivates_only_dead_tokens(
    live_stack, fcm
):
    stack = live_stack(layer="redis", env=fcm_env(fcm, PUSH_RETRY_BASE_DELAY=0.5))
    alice, bob, carol, dave = (stack.create_user(n) for n in ("alice", "bob", "carol", "dave"))
    room = stack.create_room("general", alice, [bob, carol, dave])
    register(
        stack, *[(user, "android", f"{user['username']}-phone") for user in (bob, carol, dave)]
    )
    fcm.script.answer("bob-phone", (503, fcm_error(503, "UNAVAILABLE")))
    fcm.script.answer("carol-phone", (404, fcm_error(404, "UNREGISTERED")))
    stack.start_worker()
    send(stack, alice, room, "first")
    wait_until(lambda: len(fcm.script.to("bob-phone")) == 2)
    assert len(fcm.script.to("carol-phone")) == 1 and len(fcm.script.to("dave-phone")) == 1
    assert device_states(stack) == {"bob-phone": True, "carol-phone": False, "dave-phone": True}

    # A throttled request is retried no sooner than the provider's Retry-After.
    fcm.script.answer("bob-phone", (429, fcm_error(429, "QUOTA_EXCEEDED"), {"Retry-After": "3"}))
    send(stack, alice, room, "second")
    wait_until(lambda: len(fcm.script.to("bob-phone")) == 4)
    throttled, retried = fcm.script.to("bob-phone")[2:]
    assert retried["at"] - throttled["at"] >= 3
    assert len(fcm.script.to("carol-phone")) == 1  # deactivated: never asked again
    wait_until(lambda: len(fcm.script.to("dave-phone")) == 2)
    assert fcm.issued == ["oauth-1"]


def test_a_worker_killed_mid_batch_loses_no_push_and_repeats_at_most_the_one_in_flight(
    live_stack, fcm
):
    devices = [f"phone-{i:02d}" for i in range(12)]
    # The production pairing: PostgreSQL row locks behind the claims, Redis redelivery.
    stack = live_stack(
        db="postgres",
        layer="redis",
        env=fcm_env(fcm, CELERY_VISIBILITY_TIMEOUT=5, PUSH_TIMEOUT=2, PUSH_CLAIM_LEASE=4),
    )
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    register(stack, *[(bob, "android", token) for token in devices])
    fcm.script.delay = 0.4
    first = stack.start_worker(name="first")
    send(stack, alice, room, "hello")
    wait_until(lambda: len(fcm.script.requests) >= 4, timeout=30, interval=0.02)
    first.kill()
    at_kill = len(fcm.script.requests)
    assert at_kill < len(devices), "the batch finished before the kill"
    stack.start_worker(name="second")
    wait_until(lambda: set(fcm.script.tokens()) == set(devices), timeout=90, interval=0.2)
    time.sleep(3)  # anything sent twice would show up now
    counts = Counter(fcm.script.tokens())
    assert set(counts) == set(devices)
    assert sum(counts.values()) <= len(devices) + 1, counts
    assert all(n <= 2 for n in counts.values()) and list(counts.values()).count(2) <= 1
    wait_until(lambda: delivery_states(stack) == ["sent"] * len(devices))


class BrokerProxy:
    """A TCP proxy to Redis that can turn into a black hole: connections accepted, never answered.

    A broker that hangs is worse than one that refuses: a client waits for
    its socket timeout. Daphne starts while the proxy forwards (the
    service checks its broker at start-up), then the broker "hangs".
    """

    def __init__(self, upstream):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port or 6379)
        self.forwarding = True
        self.sockets = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.forwarding:
                server = socket.create_connection(self.upstream)
                self.sockets.append(server)
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()
            else:
                threading.Thread(target=self._pipe, args=(client, None), daemon=True).start()

    def _pipe(self, source, target):
        try:
            while data := source.recv(65536):
                if target is not None:
                    target.sendall(data)
        except OSError:
            pass

    def hang(self):
        self.forwarding = False
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.sockets.clear()

    def stop(self):
        self.hang()
        self.listener.close()


async def test_a_hanging_broker_never_slows_the_websocket(live_stack):
    need("redis")
    proxy = BrokerProxy(REDIS_URL)
    try:
        stack = live_stack(env={"CELERY_BROKER_URL": f"redis://127.0.0.1:{proxy.port}/14"})
        alice, bob = stack.create_user("alice"), stack.create_user("bob")
        room = stack.create_room("general", alice, [bob])
        register(stack, (bob, "android", "bob-phone"))
        # Only the push path is under test: bob wants no email digest (whose
        # receiver publishes synchronously), and the usage-statistics receiver
        # has already published for today when alice connected.
        stack.shell(
            "import json\n"
            "from notifications.models import NotificationPreference\n"
            f"NotificationPreference.objects.create(user_id={bob['id']}, email=False)\n"
            "print(json.dumps(True))"
        )
        node = stack.start_daphne()
        a = await WsClient.open(node.ws_url, alice["token"])
        proxy.hang()
        try:
            latencies = []
            for i in range(5):
                started = time.monotonic()
                await a.say(room, f"m{i}")
                await a.expect("message.ack")
                latencies.append(time.monotonic() - started)
        finally:
            await a.close()
        assert max(latencies) < 0.5, latencies
    finally:
        proxy.stop()


def test_a_push_whose_task_never_reached_a_worker_is_sent_by_the_sweep(live_stack):
    """As if daphne died between commit and publish: the task is gone from the broker."""
    stack = live_stack(
        layer="redis", env={"PUSH_SWEEP_SECONDS": "1", "PUSH_SWEEP_GRACE_SECONDS": "1"}
    )
    alice, bob = stack.create_user("alice"), stack.create_user("bob")
    room = stack.create_room("general", alice, [bob])
    register(stack, (bob, "android", "bob-phone"))
    message_id = send(stack, alice, room, "lost on the way")

    broker = redis.Redis.from_url(stack.redis_url)
    lost = [
        raw
        for raw in broker.lrange("celery", 0, -1)
        if json.loads(raw)["headers"]["task"].startswith("devices.tasks.push")
    ]
    assert lost, "the send enqueued no push task"
    for raw in lost:
        broker.lrem("celery", 0, raw)

    worker = stack.start_worker("-B", "--schedule", str(stack.workdir / "beat"))
    line = "push (log backend): message to device"
    wait_until(lambda: line in worker.output())
    time.sleep(3)  # the next sweeps must find nothing left to send
    assert worker.output().count(line) == 1
    assert re.search(
        r"push sweep: 1 messages undecided, .* enqueued again: 1 message", worker.output()
    )
    assert f"push message:{message_id}: 1 sent" in worker.output()
