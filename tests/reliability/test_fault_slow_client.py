"""A client that stops reading (docs/reliability.md, "Faults").

The slow client's socket has a tiny receive buffer and nobody reads it. The
server must not buffer the room's traffic for it without bound: once it has
``CHAT_SEND_BUFFER_BYTES`` unread it drops that socket (close code 4008).
Meanwhile the other client keeps its latency, and the slow one, once it reads
again, reconnects and repairs its gap with ``resume``.
"""

import asyncio
import json
import socket
import statistics

import pytest
import websockets

from tests.reliability.faults import Peer, assert_holds_exactly, populate, stored_messages

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

LIMIT = 256 * 1024
BODY = "\U0001f600" * 3900  # 15.6 KB of UTF-8 per message: fewer messages fill buffers


async def _stalled_socket(url, token):
    """A websocket whose client never reads: small kernel buffer, one-frame library queue."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = url.split("//")[1].split("/")[0].split(":")
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return await websockets.connect(
        url,
        sock=sock,
        additional_headers=[("Authorization", f"Token {token}")],
        ping_interval=None,
        max_queue=1,
        max_size=2**22,
    )


async def test_a_client_that_stops_reading_is_cut_off_others_keep_latency_and_it_resumes(
    live_stack,
):
    stack = live_stack(
        env={
            "CHAT_SEND_BUFFER_BYTES": str(LIMIT),
            "CHAT_RATE_PER_SECOND": "2000",
            "CHAT_RATE_BURST": "2000",
            "CHAT_RESUME_LIMIT": "5000",  # the whole gap replays over the websocket
        }
    )
    users, room = populate(stack, ["alice", "bob", "slow"])
    node = stack.start_daphne()
    alice = await Peer("alice", users[0]["token"]).connect(node.ws_url)
    bob = await Peer("bob", users[1]["token"]).connect(node.ws_url)
    stalled = await _stalled_socket(node.ws_url, users[2]["token"])
    loop = asyncio.get_running_loop()
    try:
        # Send until the server gives up on the stalled socket (the kernel's own
        # buffers fill first), then a little more.
        total, probes, closed_at = 0, [], None
        while total < 2000 and (closed_at is None or total < closed_at + 40):
            for _ in range(20):
                total += 1
                await alice.say(room, f"{total} {BODY}", f"m{total}")
            await alice.acked(f"m{total}", timeout=30)
            # One message alone through an idle pipeline: bob's latency.
            total += 1
            started = loop.time()
            await alice.say(room, "probe", f"m{total}")
            await bob.wait_for("message.new", where=lambda f, t=total: f["message"]["seq"] == t)
            probes.append(loop.time() - started)
            if closed_at is None and "closing a slow socket" in node.output():
                closed_at = total
        assert closed_at is not None, f"{total} messages and the stalled socket is still open"
        print(f"stalled socket dropped after {closed_at} messages")
        await bob.wait_complete(room, total, timeout=60)
        assert statistics.median(probes) < 0.5 and max(probes) < 2, probes

        assert "closing a slow socket" in node.output()
        # Now the slow client reads: what the server kept for it is bounded, then the close.
        received, code = 0, None
        try:
            while True:
                received += len(await asyncio.wait_for(stalled.recv(), 10))
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd else None
        published = total * len(BODY.encode())
        assert received < published / 2, f"the server kept {received} bytes for the slow client"
        assert code in (4008, None)  # 4008 if the close frame got through before the drop

        slow = Peer("slow", users[2]["token"])
        await slow.connect(node.ws_url)
        assert "truncated" not in await slow.resume()
        await slow.wait_complete(room, total)
        assert_holds_exactly(slow, room, stored_messages(stack, room))
        assert node.alive()
    finally:
        await alice.close()
        await bob.close()


async def test_a_client_that_reads_slower_than_the_room_gets_every_frame_intact_in_order(
    live_stack,
):
    """Fan-out frames go to the kernel at once while Twisted holds nothing for the
    socket, and through Twisted's buffer once the kernel's is full
    (``chat.backpressure._write_now``). A client that reads slower than the
    room sends makes the server switch between the two all the time; the
    bytes must stay in order, so every frame parses and the messages arrive
    by seq with none missing.
    """
    stack = live_stack(
        env={
            "CHAT_SEND_BUFFER_BYTES": str(64 * 1024 * 1024),  # buffer, never cut off
            "CHAT_RATE_PER_SECOND": "2000",
            "CHAT_RATE_BURST": "2000",
        }
    )
    users, room = populate(stack, ["alice", "slow"])
    node = stack.start_daphne()
    alice = await Peer("alice", users[0]["token"]).connect(node.ws_url)
    slow = await _stalled_socket(node.ws_url, users[1]["token"])
    total = 500  # about 8 MB: well beyond the kernel's buffers for the small receive window
    seqs = []

    async def read_slowly():
        assert json.loads(await slow.recv())["type"] == "hello"
        while not seqs or seqs[-1] < total:
            frame = json.loads(await asyncio.wait_for(slow.recv(), 30))
            if frame["type"] == "message.new":
                message = frame["message"]
                assert message["body"].startswith(f"{message['seq']} "), message["seq"]
                seqs.append(message["seq"])
            await asyncio.sleep(0.005)

    reader = asyncio.create_task(read_slowly())
    try:
        for n in range(1, total + 1):
            await alice.say(room, f"{n} {BODY}", f"m{n}")
            if n % 50 == 0:
                await alice.acked(f"m{n}", timeout=60)
        await asyncio.wait_for(reader, 120)
        assert seqs == list(range(1, total + 1))
        assert "closing a slow socket" not in node.output()
        assert node.alive()
    finally:
        reader.cancel()
        await alice.close()
        await slow.close()
