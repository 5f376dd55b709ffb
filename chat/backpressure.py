"""Backpressure for websockets in both directions (docs/reliability.md).

ASGI gives an application no backpressure on websockets, and daphne buffers
without bound both ways:

- Sends go into Twisted's transport, which keeps whatever the client does not
  read. ``scope["chat.unsent_bytes"]()`` lets the consumer see that backlog and
  close a client that stopped reading (``CLOSE_TOO_SLOW``); it resumes by seq.
- Received frames wait in an unbounded queue until the consumer handles them,
  one at a time. Here the socket stops being read while
  ``CHAT_MAX_QUEUED_FRAMES`` wait (TCP then slows the sender down), and each
  frame is stamped with its arrival time, so that the consumer's rate limit
  counts frames as they arrive, not as slowly as they are handled.

It also writes the hub's fan-out frames straight to daphne's protocol
(``scope["chat.write_prepared"]``): a message for a room is framed once, by
``prepare_frame``, and the same bytes go to every local socket, instead of
each socket's ASGI send re-encoding and re-framing the same text
(docs/performance.md). Everything else a consumer sends still goes through
ASGI.

And it lets the consumer close with 1009 (docs/protocol.md, frames above the
size limit): autobahn, under daphne, accepts only 1000 and 3000-4999 from
applications and would turn that close into an internal error (1011).
"""

import asyncio
import time
from functools import partial

from autobahn.websocket.protocol import PreparedMessage
from django.conf import settings

CLOSE_TOO_BIG = 1009


def _daphne_transport(send):
    # daphne hands each application ``partial(server.handle_reply, protocol)``.
    protocol = send.args[0] if isinstance(send, partial) and send.args else None
    return getattr(protocol, "transport", None)


def _unsent_bytes(transport):
    """Bytes accepted for the socket that the kernel has not taken yet (Twisted's buffers)."""
    try:
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
    except (AttributeError, TypeError):
        # NOTE: a transport of another shape (TLS terminated in daphne, another
        # server) is not measured, and its sockets are not bounded here.
        return 0


def prepare_frame(text):
    """A text frame, encoded and framed once, for ``scope["chat.write_prepared"]``."""
    # Server frames are not masked; the payload is kept so that a socket that
    # negotiated compression can still be sent it (autobahn compresses then).
    return PreparedMessage(
        text.encode("utf-8"), isBinary=False, applyMask=False, doNotCompress=False
    )


class PreparedFrames:
    """Several text frames for ``scope["chat.write_prepared"]``, each framed once,
    their bytes joined so that a socket gets them in one write, in order."""

    def __init__(self, texts):
        self.messages = [prepare_frame(text) for text in texts]
        self.payloadHybi = b"".join(message.payloadHybi for message in self.messages)


def _write_prepared(protocol, prepared):
    """Send prepared frame(s) if the socket is open; False when it is not (nothing sent).

    ``prepared`` is one ``prepare_frame`` or a ``PreparedFrames``.
    """
    if protocol.state != protocol.STATE_OPEN:
        return False
    if protocol._perMessageCompress is None and not protocol.send_queue:
        if _write_now(protocol.transport, prepared.payloadHybi):
            return True
    # Compression (each message compressed on its own) or autobahn still
    # sending: frame by frame through autobahn, which keeps their order.
    for message in getattr(prepared, "messages", (prepared,)):
        protocol.sendPreparedMessage(message)
    return True


def _write_now(transport, data):
    """Hand ``data`` to the kernel at once when Twisted holds nothing unsent for the socket.

    Twisted's ``write`` always buffers and waits for the socket to be
    writable: per frame and socket, two epoll changes and a turn of the
    reactor, which profiling found costlier than the send itself. Writing
    only when nothing is buffered keeps the order of the bytes; what the
    kernel does not take goes through Twisted as before. False when the
    transport is not a plain TCP one (nothing written).
    """
    try:
        idle = (
            transport.connected
            and not transport._writeDisconnected
            and not transport._tempDataLen
            and transport.offset == len(transport.dataBuffer)
        )
        write_some = transport.writeSomeData
    except AttributeError:
        return False
    if not idle:
        return False
    sent = write_some(data)
    if isinstance(sent, Exception):
        sent = 0  # Twisted finds the same error on its own write and closes the socket
    if sent < len(data):
        transport.write(data[sent:])
    return True


class _PausingReceiver:
    """Wraps daphne's per-socket queue: stamps arrivals, pauses reading while it is long."""

    def __init__(self, queue, transport):
        self.queue, self.transport, self.paused = queue, transport, False
        self.high = settings.CHAT_MAX_QUEUED_FRAMES
        put = queue.put_nowait

        def put_nowait(message):
            if message.get("type") == "websocket.receive":
                message["chat.arrived"] = time.monotonic()
            put(message)
            if not self.paused and queue.qsize() >= self.high:
                self.paused = True
                transport.pauseProducing()

        # daphne's protocol calls application_queue.put_nowait for every frame.
        queue.put_nowait = put_nowait

    async def receive(self):
        message = await self.queue.get()
        if self.paused and self.queue.qsize() <= self.high // 2:
            self.paused = False
            self.transport.resumeProducing()
        return message


class BackpressureMiddleware:
    """Outermost websocket middleware; does nothing outside daphne (tests, other servers)."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        transport = _daphne_transport(send)
        if transport is None:
            return await self.inner(scope, receive, send)
        scope = {**scope, "chat.unsent_bytes": partial(_unsent_bytes, transport)}
        protocol = send.args[0]
        if hasattr(protocol, "sendPreparedMessage"):
            scope["chat.write_prepared"] = partial(_write_prepared, protocol)
        queue = getattr(receive, "__self__", None)
        if isinstance(queue, asyncio.Queue) and hasattr(transport, "pauseProducing"):
            receive = _PausingReceiver(queue, transport).receive
        return await self.inner(scope, receive, _with_protocol_close_codes(send))


def _with_protocol_close_codes(send):
    protocol = send.args[0]
    if not hasattr(protocol, "sendCloseFrame"):
        return send

    async def send_or_close(message):
        if message.get("type") == "websocket.close" and message.get("code") == CLOSE_TOO_BIG:
            # The close handshake autobahn runs itself for its own 1009s.
            protocol.sendCloseFrame(code=CLOSE_TOO_BIG, isReply=False)
            return
        await send(message)

    return send_or_close
