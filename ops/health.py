"""Readiness checks behind ``/readyz`` (docs/deployment.md, "Health and readiness").

Each check answers ``"ok"`` or a one-word state and never the reason: the
endpoint is public, so URLs, hosts and error texts go to the log only.
Every Redis check has a short timeout so that a dead dependency makes the
probe answer "unavailable" quickly instead of hanging the proxy's check.

The database checks run on Django's database thread, which daphne shares
with the websockets' database work; the Redis checks run on a thread of their
own, in parallel, so that a Redis outage never holds the database thread.
"""

import asyncio
import logging
from pathlib import Path

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

TIMEOUT = 1.0

# Set while the node drains for a restart: the proxy should send nothing new.
draining = False


def _redis_ping(url):
    import redis

    client = redis.Redis.from_url(url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        client.ping()
    finally:
        client.close()


def check_database():
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.warning("readiness: the database is unreachable", exc_info=True)
        # A broken connection must not be reused by the next request.
        connection.close_if_unusable_or_obsolete()
        return "unavailable"
    return "ok"


def check_migrations():
    from django.db.migrations.executor import MigrationExecutor

    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception:
        logger.warning("readiness: could not read the migration state", exc_info=True)
        return "unavailable"
    if plan:
        logger.warning("readiness: %s migrations are not applied", len(plan))
        return "pending"
    return "ok"


def check_channel_layer():
    layer = settings.CHANNEL_LAYERS["default"]
    if layer["BACKEND"] == "channels.layers.InMemoryChannelLayer":
        return "ok"
    try:
        for host in layer["CONFIG"]["hosts"]:
            _redis_ping(host if isinstance(host, str) else host["address"])
    except Exception:
        logger.warning("readiness: the channel layer's Redis is unreachable", exc_info=True)
        return "unavailable"
    return "ok"


def check_broker():
    url = settings.CELERY_BROKER_URL
    try:
        if url.startswith(("redis://", "rediss://")):
            _redis_ping(url)
        elif url == "filesystem://":
            folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
            if not folder.is_dir():
                raise FileNotFoundError("the broker folder is missing")
        else:
            from kombu import Connection

            with Connection(url, connect_timeout=TIMEOUT) as conn:
                conn.ensure_connection(max_retries=1, timeout=TIMEOUT)
    except Exception:
        logger.warning("readiness: the Celery broker is unreachable", exc_info=True)
        return "unavailable"
    return "ok"


async def readiness():
    """``(ready, checks)``: every dependency and whether this node takes traffic."""
    redis_checks = asyncio.gather(
        asyncio.to_thread(check_channel_layer), asyncio.to_thread(check_broker)
    )
    checks = {"database": await sync_to_async(check_database)()}
    ok = checks["database"] == "ok"
    checks["migrations"] = await sync_to_async(check_migrations)() if ok else "unknown"
    checks["channel_layer"], checks["broker"] = await redis_checks
    if draining:
        checks["node"] = "draining"
    ready = all(state == "ok" for state in checks.values())
    return ready, checks
