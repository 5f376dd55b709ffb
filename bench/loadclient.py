"""The load client: many real websocket connections on one asyncio loop.

Each connection is an ``asyncio.Protocol`` driving the ``websockets``
library's sans-I/O ``ClientProtocol`` (RFC 6455 handshake, framing, masking,
ping answers, closing handshake). Skipping the library's per-connection
reader task matters here: the client shares one core with nothing else but
has to read up to ~100,000 frames per second, and it must never be the
reason a server looks slow.

Every frame is checked: a delivery is counted only when it is the expected
kind of frame and carries a ``client_id`` this run sent, once per member.
"""

import asyncio
import time

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

CLIENT_ID_KEY = b'"client_id":"'


class Connection(asyncio.Protocol):
    """One websocket connection; ``on_text(conn, data, now)`` gets every text frame."""

    def __init__(self, url, token=None, on_text=None):
        self.wsuri = parse_uri(url)
        self.token = token
        self.on_text = on_text
        self.opened = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.transport = None
        self.protocol = None
        self.first_text = None
        self.first_text_seen = asyncio.get_running_loop().create_future()
        self._fragments = []

    @classmethod
    async def open(cls, url, token=None, on_text=None, *, timeout=30):
        loop = asyncio.get_running_loop()
        conn = cls(url, token, on_text)
        await loop.create_connection(lambda: conn, conn.wsuri.host, conn.wsuri.port)
        await asyncio.wait_for(conn.opened, timeout)
        return conn

    # --- asyncio.Protocol ----------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        self.protocol = ClientProtocol(self.wsuri, max_size=2**22)
        request = self.protocol.connect()
        if self.token:
            request.headers["Authorization"] = f"Token {self.token}"
        self.protocol.send_request(request)
        self._flush()

    def data_received(self, data):
        now = time.monotonic()
        protocol = self.protocol
        protocol.receive_data(data)
        for event in protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT or event.opcode is Opcode.CONT:
                    self._text_frame(event, now)
            elif isinstance(event, Response):
                if not self.opened.done():
                    if protocol.handshake_exc is not None:
                        self.opened.set_exception(protocol.handshake_exc)
                    else:
                        self.opened.set_result(self)
        self._flush()

    def _text_frame(self, frame, now):
        if not frame.fin:
            self._fragments.append(frame.data)
            return
        data = frame.data
        if self._fragments:
            data = b"".join(self._fragments) + data
            self._fragments = []
        if not self.first_text_seen.done():
            self.first_text = data
            self.first_text_seen.set_result(data)
        if self.on_text is not None:
            self.on_text(self, data, now)

    def eof_received(self):
        self.protocol.receive_eof()
        self._flush()

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.protocol.close_code if self.protocol else None)

    # --- sending -------------------------------------------------------

    def _flush(self):
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def send_text(self, text):
        self.protocol.send_text(text.encode())
        self._flush()

    async def close(self, timeout=2):
        if self.transport is None or self.closed.done():
            return
        try:
            self.protocol.send_close(1000)
            self._flush()
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except Exception:
            pass
        finally:
            self.transport.abort()


def client_id_of(data):
    """The ``client_id`` string of a frame, without decoding the JSON around it."""
    start = data.find(CLIENT_ID_KEY)
    if start < 0:
        return None
    start += len(CLIENT_ID_KEY)
    end = data.find(b'"', start)
    return data[start:end].decode() if end > 0 else None


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


async def open_many(url, tokens, *, concurrency=20, on_text=None, expect_hello=False, retries=3):
    """Open one connection per token (None for no auth); returns (connections, seconds, failed).

    With ``expect_hello`` a connection counts as open once its first frame
    (the project's ``hello``) has arrived. A refused handshake (daphne
    refuses one the application has not accepted within 5 seconds) is tried
    again; ``failed`` counts the ones that never opened.
    """
    semaphore = asyncio.Semaphore(concurrency)
    conns = [None] * len(tokens)
    failed = 0

    async def one(i, token):
        nonlocal failed
        async with semaphore:
            for attempt in range(retries + 1):
                try:
                    conn = await Connection.open(url, token, on_text)
                    if expect_hello:
                        await asyncio.wait_for(conn.first_text_seen, 30)
                    conns[i] = conn
                    return
                except (OSError, TimeoutError, InvalidHandshake):
                    await asyncio.sleep(0.5 * (attempt + 1))
            failed += 1

    start = time.monotonic()
    await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
    return [c for c in conns if c is not None], time.monotonic() - start, failed
