"""A rolling restart of one of two daphne nodes under load loses no message and duplicates none.

Clients on both nodes send continuously. One node gets SIGTERM: it closes its
sockets with 4012 and exits; its clients reconnect to the other node, send
``resume`` with the last ``seq`` they hold, and resend whatever was not yet
acknowledged with the same ``client_id``. Every client must end with every
message of the room exactly once, in ``seq`` order.
"""

import asyncio
import json
import signal
import uuid

import websockets

from ops.shutdown import CLOSE_SERVICE_RESTART
from tests.ops.helpers import users_and_room

SENDS_PER_CLIENT = 30
SEND_INTERVAL = 0.03


class Peer:
    """A client that behaves as docs/protocol.md asks: in-order delivery by seq, resume on gaps."""

    def __init__(self, name, token, room, url):
        self.name, self.token, self.room, self.url = name, token, room, url
        self.last = 0
        self.delivered = []  # seqs handed to the "app", in order
        self.unacked = {}  # client_id -> body, until acknowledged
        self.close_codes = []
        self.connected = asyncio.Event()
        self.resuming = False
        self.ws = None

    async def open(self, url, *, resume):
        self.url = url
        self.ws = await websockets.connect(
            url, additional_headers=[("Authorization", f"Token {self.token}")], ping_interval=None
        )
        hello = json.loads(await self.ws.recv())
        assert hello["type"] == "hello"
        if resume:
            await self._resume()
        self.connected.set()

    async def _resume(self):
        self.resuming = True
        await self.ws.send(json.dumps({"type": "resume", "rooms": {str(self.room): self.last}}))

    async def send(self, body):
        client_id = uuid.uuid4().hex
        self.unacked[client_id] = body
        await self._send_frame(client_id, body)

    async def _send_frame(self, client_id, body):
        frame = {"type": "message.send", "room": self.room, "body": body, "client_id": client_id}
        while True:
            await self.connected.wait()
            try:
                await self.ws.send(json.dumps(frame))
                return
            except websockets.ConnectionClosed:
                await asyncio.sleep(0.01)  # the reader reconnects

    async def read(self, fallback_url):
        while True:
            try:
                raw = await self.ws.recv()
            except websockets.ConnectionClosed as closed:
                if closed.rcvd is None:
                    raise
                self.close_codes.append(closed.rcvd.code)
                self.connected.clear()
                await self.open(fallback_url, resume=True)
                for client_id, body in list(self.unacked.items()):
                    await self._send_frame(client_id, body)
                continue
            self._on_frame(json.loads(raw))

    def _on_frame(self, frame):
        kind = frame["type"]
        if kind == "message.new" and frame["message"]["room"] == self.room:
            seq = frame["message"]["seq"]
            if seq == self.last + 1:
                self.last = seq
                self.delivered.append(seq)
            elif seq > self.last + 1 and not self.resuming:
                asyncio.ensure_future(self._resume())  # a gap: ask for what is missing
        elif kind == "message.ack":
            self.unacked.pop(frame["client_id"], None)
        elif kind == "resume.done":
            self.resuming = False
        elif kind == "error":
            raise AssertionError(f"{self.name} got an error frame: {frame}")


async def test_a_rolling_restart_under_load_loses_and_duplicates_no_message(live_stack):
    stack = live_stack(db="postgres", layer="redis")
    users, room = users_and_room(stack, 4)
    leaving, staying = stack.start_daphne(), stack.start_daphne()
    peers = [
        Peer(u["username"], u["token"], room, (leaving if n < 2 else staying).ws_url)
        for n, u in enumerate(users)
    ]
    for peer in peers:
        await peer.open(peer.url, resume=False)
    readers = [asyncio.ensure_future(p.read(staying.ws_url)) for p in peers]

    async def keep_sending(peer):
        for n in range(SENDS_PER_CLIENT):
            await peer.send(f"{peer.name} #{n}")
            await asyncio.sleep(SEND_INTERVAL)

    senders = [asyncio.ensure_future(keep_sending(p)) for p in peers]
    try:
        await asyncio.sleep(SENDS_PER_CLIENT * SEND_INTERVAL / 3)
        leaving.signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*senders), 60)
        total = SENDS_PER_CLIENT * len(peers)
        for _ in range(600):
            if all(p.last == total and not p.unacked for p in peers):
                break
            failed = [r for r in readers if r.done()]
            if failed:
                failed[0].result()  # re-raise what stopped a reader
            await asyncio.sleep(0.05)
    finally:
        for task in senders + readers:
            task.cancel()
        for peer in peers:
            await peer.ws.close()

    assert leaving.popen.wait(15) == 0
    assert "closed 2 sockets with 4012" in leaving.output()
    assert [p.close_codes for p in peers] == [[CLOSE_SERVICE_RESTART]] * 2 + [[]] * 2
    for peer in peers:
        assert not peer.unacked, f"{peer.name} never got an ack for {len(peer.unacked)} sends"
        assert peer.delivered == list(range(1, total + 1)), peer.name
    stored = stack.shell(
        "import json\n"
        "from chat.models import Message\n"
        f"rows = list(Message.objects.filter(room_id={room}).values_list('seq', 'body'))\n"
        "print(json.dumps(rows))"
    )
    assert sorted(seq for seq, _ in stored) == list(range(1, total + 1))
    bodies = [body for _, body in stored]
    assert len(set(bodies)) == len(bodies) == total  # every send stored once, none twice
