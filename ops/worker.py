"""Celery hooks: task ids in logs, task outcome counters, and the worker's own metrics port.

Connected from ``OpsConfig.ready()``, so they are active in every process that
loads Django: in daphne they only see tasks being sent, in a worker they see
tasks run.
"""

import logging

from celery import signals

from . import metrics
from .logging import task_id

logger = logging.getLogger(__name__)


def _task_name(sender):
    return getattr(sender, "name", None) or str(sender)


@signals.task_prerun.connect(dispatch_uid="ops.task_prerun")
def set_task_id(sender=None, **kwargs):
    task_id.set(kwargs.get("task_id"))


@signals.task_postrun.connect(dispatch_uid="ops.task_postrun")
def clear_task_id(**kwargs):
    task_id.set(None)


@signals.task_success.connect(dispatch_uid="ops.task_success")
def count_success(sender=None, **kwargs):
    metrics.TASKS.labels(task=_task_name(sender), outcome="succeeded").inc()


@signals.task_retry.connect(dispatch_uid="ops.task_retry")
def count_retry(sender=None, **kwargs):
    metrics.TASKS.labels(task=_task_name(sender), outcome="retried").inc()


@signals.task_failure.connect(dispatch_uid="ops.task_failure")
def count_failure(sender=None, **kwargs):
    metrics.TASKS.labels(task=_task_name(sender), outcome="failed").inc()


@signals.worker_ready.connect(dispatch_uid="ops.worker_metrics_port")
def serve_worker_metrics(**kwargs):
    """A worker on a host without daphne exposes its metrics on ``METRICS_WORKER_PORT``."""
    from django.conf import settings

    port = settings.METRICS_WORKER_PORT
    if not port:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = None
    if metrics.MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    address = settings.METRICS_WORKER_ADDRESS
    if registry is None:
        start_http_server(port, addr=address)
    else:
        start_http_server(port, addr=address, registry=registry)
    logger.info("worker metrics on %s:%s", address, port)


@signals.worker_process_shutdown.connect(dispatch_uid="ops.worker_process_shutdown")
def forget_pool_process(pid=None, **kwargs):
    metrics.process_stopped(pid)
