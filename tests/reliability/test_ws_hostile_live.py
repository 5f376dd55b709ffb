"""Hostile websocket clients against a real daphne process (docs/reliability.md, "Hostile input").

What the in-process tests cannot show: daphne's own limits (frames above
1 MiB), the HTTP 403 a refused handshake really gets, and whether one socket's
flood costs other sockets latency on the same node.
"""

import asyncio
import json
import statistics
import time

import pytest
import websockets

from tests.live import LiveStack
from tests.reliability.faults import Peer, populate

pytestmark = [pytest.mark.reliability, pytest.mark.live, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack():
    stack = LiveStack()
    stack.users, stack.room = populate(stack, ["alice", "bob", "mallory"])
    stack.node = stack.start_daphne()
    stack.session = stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "c.force_login(get_user_model().objects.get(username='alice'))\n"
        "print(json.dumps(c.cookies['sessionid'].value))"
    )
    yield stack
    stack.stop()


async def _ping_times(peer, count, every=0.05):
    times = []
    for _ in range(count):
        started = time.monotonic()
        await peer.send(type="ping")
        await peer.wait_for("pong", timeout=10)
        times.append(time.monotonic() - started)
        await asyncio.sleep(every)
    return times


async def test_a_flood_from_one_socket_is_rate_limited_and_others_keep_their_latency(stack):
    room = stack.room
    flooder = await Peer("mallory", stack.users[2]["token"]).connect(stack.node.ws_url)
    bob = await Peer("bob", stack.users[1]["token"]).connect(stack.node.ws_url)
    try:
        baseline = await _ping_times(bob, 10)
        frames = [
            json.dumps({"type": "message.send", "room": room, "body": "spam", "client_id": f"f{i}"})
            for i in range(3000)
        ]

        async def flood():
            for frame in frames:
                await flooder.ws.send(frame)

        started = time.monotonic()
        flooding = asyncio.create_task(flood())
        during = await _ping_times(bob, 20, every=0.02)
        await flooding
        # Every frame gets exactly one answer: its ack, or an error frame.
        deadline = time.monotonic() + 60
        while len(flooder.acks) + len(flooder.errors) < len(frames):
            assert time.monotonic() < deadline, (len(flooder.acks), len(flooder.errors))
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started

        limited = [e for e in flooder.errors if e["code"] == "rate_limited"]
        assert len(limited) > 2000, f"only {len(limited)} of 3000 frames were rate limited"
        # Defaults: bursts of 40, then 20 frames a second (the ping counts too).
        assert len(flooder.acks) <= 40 + 20 * elapsed + 5
        assert {e["code"] for e in flooder.errors} == {"rate_limited"}
        assert flooder.open
        slow = statistics.median(during)
        assert slow < max(5 * statistics.median(baseline), 0.25), (baseline, during)
        assert max(during) < 2, during
    finally:
        await flooder.close()
        await bob.close()


async def test_frames_over_daphnes_and_over_the_chat_limit_close_with_1009(stack):
    for size in (100 * 1024, 2 * 1024 * 1024):
        peer = await Peer("alice", stack.users[0]["token"]).connect(stack.node.ws_url)
        frame = json.dumps({"type": "ping", "pad": "x" * size})
        try:
            await peer.ws.send(frame)
        except websockets.ConnectionClosed:
            pass  # daphne may close before the whole frame is written
        await asyncio.wait_for(peer.reader, 10)
        if size < 1024 * 1024:
            assert peer.closes == [1009], (size, peer.closes)
        else:
            # Over daphne's own 1 MiB limit autobahn fails the connection: it
            # sends 1009 and drops TCP, which a client still writing sees as 1006.
            assert peer.closes in ([1009], [1006]), (size, peer.closes)


async def test_binary_frames_get_bad_frame_over_a_real_socket(stack):
    peer = await Peer("alice", stack.users[0]["token"]).connect(stack.node.ws_url)
    try:
        await peer.ws.send(b"\x00\xffbinary")
        assert (await peer.wait_for("error"))["code"] == "bad_frame"
        await peer.send(type="ping")
        await peer.wait_for("pong")
    finally:
        await peer.close()


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Authorization", "Token not-a-token")],
        [("Cookie", "sessionid={session}"), ("Origin", "https://evil.example")],
        [("Cookie", "sessionid={session}")],
    ],
    ids=["anonymous", "wrong-token", "session-from-foreign-origin", "session-without-origin"],
)
async def test_refused_handshakes_get_http_403_and_no_frame(stack, headers):
    headers = [(k, v.format(session=stack.session)) for k, v in headers]
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(stack.node.ws_url, additional_headers=headers, open_timeout=10)
    assert refused.value.response.status_code == 403


async def test_a_session_cookie_from_the_site_itself_is_accepted(stack):
    headers = [("Cookie", f"sessionid={stack.session}"), ("Origin", stack.node.base_url)]
    async with websockets.connect(stack.node.ws_url, additional_headers=headers) as ws:
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
