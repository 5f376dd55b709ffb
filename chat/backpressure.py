"""How far behind a websocket client is: the bytes the server holds for it (docs/reliability.md).

ASGI gives an application no backpressure on websocket sends: daphne writes
every frame into Twisted's transport, which buffers whatever the client does
not read, without bound. A client that stops reading would make its node hold
every message of its rooms. ``WriteBufferMiddleware`` lets the consumer see
that buffer (``scope["chat.unsent_bytes"]()``), so it can close such a socket
with ``CLOSE_TOO_SLOW`` instead; the client reconnects and resumes by seq.
"""

from functools import partial


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


class WriteBufferMiddleware:
    """Outermost websocket middleware: puts ``chat.unsent_bytes`` into the scope when it can."""

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        transport = _daphne_transport(send)
        if transport is not None:
            scope = {**scope, "chat.unsent_bytes": partial(_unsent_bytes, transport)}
        return await self.inner(scope, receive, send)
