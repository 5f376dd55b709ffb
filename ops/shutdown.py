"""Graceful restart of a daphne node (docs/deployment.md, "Restarts").

On SIGTERM a node:

1. stops listening, so the proxy sends new connections to the other nodes,
   and reports ``draining`` on ``/readyz``;
2. closes every local websocket with code 4012, the application-range twin
   of 1012 (Service Restart), which clients treat as "reconnect now, then
   ``resume``" (docs/protocol.md). Daphne's websocket library refuses to send
   1012 itself: it allows only 1000 and 3000-4999 from an application;
3. waits up to ``SHUTDOWN_DRAIN_SECONDS`` for those sockets to finish
   closing, so that their presence is uncounted as usual;
4. removes this node's presence rows (``chat.presence.node_stop``) and
   announces the users it alone held as offline;
5. stops the reactor, which lets daphne cancel whatever is left and exit.

A second SIGTERM stops at once. Daphne leaves signals to Twisted, which
installs its handlers once the reactor runs; ``install()`` therefore asks the
reactor to hand SIGTERM to this module as soon as it is running. Nothing
happens in processes without a running reactor (tests, management commands).
"""

import asyncio
import contextvars
import logging
import signal
import sys
import time

from channels.db import database_sync_to_async
from django.conf import settings

from . import health, metrics

logger = logging.getLogger(__name__)

CLOSE_SERVICE_RESTART = 4012

_state = {"draining": False}


def install():
    """Called once from ``chatproject.asgi``; takes SIGTERM over when daphne's reactor runs."""
    if "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import reactor

    reactor.callWhenRunning(_take_over_sigterm, reactor)


def _take_over_sigterm(reactor):
    loop = asyncio.get_event_loop()

    def on_sigterm(signum, frame):
        if _state["draining"]:
            logger.warning("second SIGTERM: stopping without waiting")
            reactor.callFromThread(reactor.stop)
            return
        _state["draining"] = True
        # A fresh context: the handler interrupted some connection's task, whose
        # ids must not label the shutdown's log lines.
        loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(drain(reactor)), context=contextvars.Context()
        )

    signal.signal(signal.SIGTERM, on_sigterm)


def _stop_listening(reactor):
    from twisted.internet import tcp

    for reader in list(reactor.getReaders()):
        if isinstance(reader, tcp.Port):
            reader.stopListening()


async def close_local_sockets(code=CLOSE_SERVICE_RESTART):
    """Close every websocket of this process with ``code``; returns how many."""
    from chat import hub as hub_module

    closed = 0
    for hub in list(hub_module._hubs.values()):
        for consumer in hub.local_sockets():
            try:
                await consumer.close(code=code)
                closed += 1
            except Exception:
                logger.warning("could not close a socket while draining", exc_info=True)
    metrics.GRACEFUL_CLOSES.inc(closed)
    return closed


def _sockets_left():
    from chat import hub as hub_module

    return sum(len(hub.local_sockets()) for hub in hub_module._hubs.values())


async def drain(reactor=None):
    started = time.monotonic()
    health.draining = True
    try:
        if reactor is not None:
            _stop_listening(reactor)
        closed = await close_local_sockets()
        logger.info("draining: closed %s sockets with %s", closed, CLOSE_SERVICE_RESTART)
        deadline = started + settings.SHUTDOWN_DRAIN_SECONDS
        while _sockets_left() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await database_sync_to_async(_forget_node)()
        from chat import hub as hub_module

        for hub in list(hub_module._hubs.values()):
            await hub.stop()
    except Exception:
        logger.exception("graceful shutdown failed part-way; stopping anyway")
    finally:
        metrics.process_stopped()
        logger.info("drained in %.2fs; stopping", time.monotonic() - started)
        if reactor is not None:
            reactor.stop()


def _forget_node():
    from django.contrib.auth import get_user_model

    from chat import presence, services

    gone = presence.node_stop()
    for user in get_user_model().objects.filter(pk__in=gone):
        services.presence_announce(user, "offline")
