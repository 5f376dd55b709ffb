"""Tools for fault tests: a private Redis, a TCP proxy that can cut PostgreSQL, chat peers.

The shared PostgreSQL and Redis on the machine are never stopped: a test that
restarts Redis runs its own ``redis-server``, and a test that drops database
connections puts a proxy between daphne and PostgreSQL and cuts that.
"""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import uuid

import websockets

from tests.live import free_port, wait_for_port


class PrivateRedis:
    """A throwaway ``redis-server`` on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="chat-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class TcpProxy:
    """Forwards a local port to ``target_port``; ``cut()`` drops every connection through it.

    It runs its own event loop in a thread, so a test blocked in a
    subprocess call does not stall the traffic it forwards.
    """

    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.refusing = False
        self.connections = set()
        self.accepted = 0
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", self.port)
        )
        self._ready.set()
        self.loop.run_forever()

    async def _serve(self, reader, writer):
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        pair = (writer, up_writer)
        self.connections.add(pair)

        async def pump(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self.connections.discard(pair)

    def _call(self, fn):
        done = threading.Event()

        def run():
            fn()
            done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(10)

    def cut(self):
        """Abort every open connection, both ways, as a dead network would."""

        def abort_all():
            for client, upstream in list(self.connections):
                client.transport.abort()
                upstream.transport.abort()

        self._call(abort_all)

    def refuse(self, refusing=True):
        self.refusing = refusing

    def close(self):
        self.cut()
        self._call(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


class Peer:
    """A chat client against real daphne nodes that keeps every message it receives by seq.

    A background reader files frames as they arrive; ``resume()`` asks for
    everything after the highest seq held without a gap, as a real client would.
    """

    def __init__(self, name, token):
        self.name, self.token = name, token
        self.ws = None
        self.reader = None
        self.held = {}  # room -> {seq: message}
        self.conflicts = []  # the same seq seen with two different message ids
        self.acks = {}  # client_id -> ack frame
        self.errors = []
        self.closes = []  # close codes seen, in order
        self.frames = asyncio.Queue()
        self.hello = None

    async def connect(self, url, *, timeout=10):
        self.ws = await websockets.connect(
            url,
            additional_headers=[("Authorization", f"Token {self.token}")],
            open_timeout=timeout,
            ping_interval=None,
            max_size=2**22,
        )
        self.hello = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert self.hello["type"] == "hello", self.hello
        for room in self.hello["rooms"]:
            self.held.setdefault(room["id"], {})
        self.reader = asyncio.create_task(self._read(self.ws))
        return self

    async def _read(self, ws):
        try:
            async for raw in ws:
                self._file(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.closes.append(ws.close_code)

    def _file(self, frame):
        kind = frame.get("type")
        if kind == "message.new":
            message = frame["message"]
            room = self.held.setdefault(message["room"], {})
            known = room.get(message["seq"])
            if known is not None and known["id"] != message["id"]:
                self.conflicts.append((known, message))
            room[message["seq"]] = message
        elif kind == "message.ack":
            self.acks[frame["client_id"]] = frame
        elif kind == "error":
            self.errors.append(frame)
        self.frames.put_nowait(frame)

    @property
    def open(self):
        return self.reader is not None and not self.reader.done()

    async def send(self, **frame):
        await self.ws.send(json.dumps(frame))

    async def say(self, room, body, client_id=None):
        client_id = client_id or f"{self.name}-{uuid.uuid4().hex[:12]}"
        await self.send(type="message.send", room=room, body=body, client_id=client_id)
        return client_id

    async def wait_for(self, kind, *, timeout=10, where=None):
        """The next frame of ``kind`` from now on (earlier ones are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {kind!r} within {timeout}s")
            try:
                frame = await asyncio.wait_for(self.frames.get(), left)
            except TimeoutError:
                continue
            if frame.get("type") == kind and (where is None or where(frame)):
                return frame

    async def acked(self, client_id, *, timeout=10):
        """The ack of a send, or the error frame that refused it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if client_id in self.acks:
                return self.acks[client_id]
            refused = [e for e in self.errors if e.get("client_id") == client_id]
            if refused:
                return refused[-1]
            if loop.time() > deadline:
                raise AssertionError(f"{self.name}: no ack for {client_id} within {timeout}s")
            await asyncio.sleep(0.02)

    def contiguous(self, room):
        """The highest seq held with every seq below it held too."""
        seqs, last = self.held.get(room, {}), 0
        while last + 1 in seqs:
            last += 1
        return last

    async def resume(self, *, timeout=15):
        self.frames = asyncio.Queue()
        await self.send(type="resume", rooms={str(r): self.contiguous(r) for r in self.held})
        return await self.wait_for("resume.done", timeout=timeout)

    async def wait_complete(self, room, last_seq, *, timeout=15):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.contiguous(room) < last_seq:
            if loop.time() > deadline:
                missing = sorted(set(range(1, last_seq + 1)) - set(self.held.get(room, {})))
                raise AssertionError(f"{self.name} lacks seqs {missing[:20]} of room {room}")
            await asyncio.sleep(0.05)

    async def close(self):
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)


def stored_messages(stack, room_id):
    """Every stored message of the room as ``{seq: (id, client_id, body)}``, read by the stack."""
    rows = stack.shell(
        "import json\n"
        "from chat.models import Message\n"
        f"rows = Message.objects.filter(room_id={room_id}).order_by('seq')"
        ".values_list('seq', 'id', 'client_id', 'body')\n"
        "print(json.dumps([list(r) for r in rows]))"
    )
    return {seq: (mid, client_id, body) for seq, mid, client_id, body in rows}


def assert_holds_exactly(peer, room_id, stored):
    """The peer holds every stored message of the room, once, with no gap and nothing extra."""
    held = peer.held.get(room_id, {})
    assert peer.conflicts == [], f"{peer.name} got two messages for one seq: {peer.conflicts[:3]}"
    assert sorted(held) == list(range(1, len(stored) + 1)), (
        f"{peer.name} holds seqs {sorted(set(range(1, len(stored) + 1)) ^ set(held))[:20]} "
        f"wrongly of {len(stored)}"
    )
    assert {seq: m["id"] for seq, m in held.items()} == {s: v[0] for s, v in stored.items()}


def populate(stack, names, *, room="general"):
    """Users with tokens and one room they all belong to, in one ``manage.py shell`` run.

    Returns ``(users, room_id)``; users are ``{"id", "username", "token"}`` in order.
    """
    data = stack.shell(
        "import json\n"
        "from django.contrib.auth import get_user_model\n"
        "from rest_framework.authtoken.models import Token\n"
        "from chat import services\n"
        "users = []\n"
        f"for name in {list(names)!r}:\n"
        "    u = get_user_model().objects.create_user(name, name + '@example.com', 'pw-' + name)\n"
        "    users.append(u)\n"
        f"r = services.room_create(owner=users[0], name={room!r}, "
        "member_ids=[u.pk for u in users[1:]])\n"
        "print(json.dumps({'room': r.pk, 'users': [{'id': u.pk, 'username': u.username, "
        "'token': Token.objects.create(user=u).key} for u in users]}))"
    )
    return data["users"], data["room"]
