"""Helpers of the ops tests: reading ``/metrics`` as Prometheus does, and quick live fixtures."""

import asyncio
import json
import signal
import uuid

import websockets
from prometheus_client.parser import text_string_to_metric_families


def parse_metrics(text):
    """``{(sample name, frozenset of label pairs): value}`` from an exposition text."""
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def users_and_room(stack, count):
    """Users with tokens and one room of them all, in one process start (each costs seconds)."""
    data = stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        "from chat import services\n"
        "users = [get_user_model().objects.create_user('user%d' % n) "
        f"for n in range({count})]\n"
        "room = services.room_create(\n"
        "    owner=users[0], name='general', member_ids=[u.pk for u in users])\n"
        "tokens = [Token.objects.create(user=u).key for u in users]\n"
        "print(json.dumps({'room': room.pk, 'tokens': tokens}))"
    )
    users = [{"username": f"user{n}", "token": t} for n, t in enumerate(data["tokens"])]
    return users, data["room"]


class Peer:
    """A client that behaves as docs/protocol.md asks: in-order delivery by seq, resume on gaps."""

    def __init__(self, name, token, room, url, ssl=None):
        self.name, self.token, self.room, self.url = name, token, room, url
        self.ssl = ssl
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
            url,
            additional_headers=[("Authorization", f"Token {self.token}")],
            ping_interval=None,
            ssl=self.ssl,
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


async def chat_through_restart(peers, leaving, fallback_url, *, sends, interval):
    """Every peer sends ``sends`` messages while ``leaving`` gets SIGTERM; returns the total.

    Returns once every peer holds every message and every send is acknowledged.
    """
    readers = [asyncio.ensure_future(p.read(fallback_url)) for p in peers]

    async def keep_sending(peer):
        for n in range(sends):
            await peer.send(f"{peer.name} #{n}")
            await asyncio.sleep(interval)

    senders = [asyncio.ensure_future(keep_sending(p)) for p in peers]
    total = sends * len(peers)
    try:
        await asyncio.sleep(sends * interval / 3)
        leaving.signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*senders), 60)
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
    for peer in peers:
        assert not peer.unacked, f"{peer.name} never got an ack for {len(peer.unacked)} sends"
        assert peer.delivered == list(range(1, total + 1)), peer.name
    return total


def assert_stored_once(stack, room, total):
    """The room holds seqs 1..total, one row per send: none lost, none stored twice."""
    stored = stack.shell(
        "import json\n"
        "from chat.models import Message\n"
        f"rows = list(Message.objects.filter(room_id={room}).values_list('seq', 'body'))\n"
        "print(json.dumps(rows))"
    )
    assert sorted(seq for seq, _ in stored) == list(range(1, total + 1))
    bodies = [body for _, body in stored]
    assert len(set(bodies)) == len(bodies) == total
