"""The Celery queue backlog, read from the broker when ``/metrics`` is scraped.

Redis keeps each queue as a list, so its length is the number of tasks that
wait for a worker; the file-system broker keeps one file per waiting task.
Other brokers report nothing (the metric is then absent, not zero).
"""

import logging
from pathlib import Path

from django.conf import settings
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

QUEUES = ("celery",)


class QueueLengthCollector:
    _registry = None

    @classmethod
    def registry(cls):
        if cls._registry is None:
            cls._registry = CollectorRegistry()
            cls._registry.register(cls())
        return cls._registry

    def collect(self):
        family = GaugeMetricFamily(
            "chat_celery_queue_length", "Tasks waiting in the broker, by queue.", labels=["queue"]
        )
        try:
            lengths = queue_lengths()
        except Exception:
            logger.warning("could not read the broker's queue lengths", exc_info=True)
            lengths = {}
        for queue, length in lengths.items():
            family.add_metric([queue], length)
        yield family


def queue_lengths():
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return {queue: int(client.llen(queue)) for queue in QUEUES}
        finally:
            client.close()
    if url == "filesystem://":
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        return {"celery": sum(1 for _ in folder.glob("*.msg"))}
    return {}
