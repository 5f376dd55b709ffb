"""ASGI pieces that ``chatproject.asgi`` wraps around the application.

``ConnectionIdMiddleware`` gives each websocket connection an id that every
log line written while serving it carries (daphne runs each connection in its
own task, so a context variable set here stays with the connection).
"""

import logging
import time
import uuid

from .logging import connection_id

logger = logging.getLogger("ops.access")


class ConnectionIdMiddleware:
    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        connection_id.set(uuid.uuid4().hex[:12])
        scope = {**scope, "connection_id": connection_id.get()}
        started = time.monotonic()
        logger.info("websocket %s opened", scope.get("path"))
        try:
            return await self.inner(scope, receive, send)
        finally:
            logger.info(
                "websocket %s ended after %.1fs", scope.get("path"), time.monotonic() - started
            )
