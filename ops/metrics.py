"""Prometheus metrics of the chat service, served at ``/metrics`` (docs/deployment.md, "Metrics").

Every metric object lives here so that the places that count stay one line
long (``metrics.MESSAGES_STORED.inc()``). Nothing here imports the other apps,
so any module may import it without creating a cycle.

A daphne node is one process and counts in prometheus_client's default
registry. Celery workers run in other processes: when
``PROMETHEUS_MULTIPROC_DIR`` is set (the deployment guide sets it for every
process on a host), prometheus_client writes each process's values to files
in that folder and ``/metrics`` adds them up, so a node's endpoint also shows
the push and email counters of the workers on its host.
"""

import os
import time

from django.core.exceptions import ImproperlyConfigured
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:
    _folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    if not (os.path.isdir(_folder) and os.access(_folder, os.W_OK)):
        # Said here because the metrics below create their files at import.
        raise ImproperlyConfigured(f"PROMETHEUS_MULTIPROC_DIR {_folder} is not a writable folder.")

# --- websockets and messages ------------------------------------------

WEBSOCKETS_OPEN = Gauge(
    "chat_websockets_open",
    "Websockets currently open on this node.",
    multiprocess_mode="livesum",
)
MESSAGES_STORED = Counter("chat_messages_stored", "New messages stored (repeats excluded).")
MESSAGES_DELIVERED = Counter(
    "chat_messages_delivered", "message.new frames handed to local sockets by the fan-out hub."
)
FANOUT_LATENCY = Histogram(
    "chat_fanout_latency_seconds",
    "Time from a message's publication to its delivery to this node's sockets.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
RESUME_REQUESTS = Counter("chat_resume_requests", "resume frames handled.")
RESUME_REPLAYED = Counter("chat_resume_replayed_messages", "Messages replayed by resume.")
RESUME_TRUNCATED = Counter(
    "chat_resume_truncated_rooms", "Rooms whose gap was too large to replay over resume."
)
ERROR_FRAMES = Counter("chat_error_frames", "error frames sent, by code.", ["code"])
RATE_LIMIT_HITS = Counter(
    "chat_rate_limit_hits", "Requests or frames refused by a rate limit.", ["path"]
)
GRACEFUL_CLOSES = Counter(
    "chat_graceful_closes", "Sockets closed with 4012 (service restart) while draining."
)

# --- background work ------------------------------------------------------

TASKS = Counter("chat_celery_tasks", "Celery task outcomes, by task name.", ["task", "outcome"])
PUSH = Counter(
    "chat_push",
    "Push notifications by provider and outcome (sent, retried, failed) and reason.",
    ["provider", "outcome", "reason"],
)
EMAIL = Counter(
    "chat_email", "Emails by outcome (sent, retried, failed) and reason.", ["outcome", "reason"]
)
DEVICES_DEACTIVATED = Counter(
    "chat_devices_deactivated",
    "Devices deactivated, by provider and reason.",
    ["provider", "reason"],
)


def push_counted(*, provider, outcome, reason="", count=1):
    """Count push attempts: ``outcome`` is ``sent``, ``retried`` or ``failed``.

    ``reason`` must come from a small fixed set (an outcome kind, an exception
    class name), never from a provider's free text: each value is a series.
    """
    PUSH.labels(provider=provider, outcome=outcome, reason=reason or "").inc(count)


def email_counted(*, outcome, reason=""):
    """Count one email attempt: ``outcome`` is ``sent``, ``retried`` or ``failed``."""
    EMAIL.labels(outcome=outcome, reason=reason or "").inc()


def device_deactivation_counted(*, provider, reason):
    DEVICES_DEACTIVATED.labels(provider=provider, reason=reason).inc()


def fanout_observed(published_at):
    """Record the fan-out latency of one message event stamped with ``time.time()``."""
    if published_at:
        FANOUT_LATENCY.observe(max(time.time() - published_at, 0.0))


def exposition():
    """The text of ``/metrics``: this process, or every process of the host in multiprocess mode."""
    from .queues import QueueLengthCollector

    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    return text + generate_latest(QueueLengthCollector.registry())


def process_stopped(pid=None):
    """Forget a stopped process's live gauges (multiprocess mode only)."""
    if MULTIPROCESS:
        multiprocess.mark_process_dead(pid or os.getpid())
