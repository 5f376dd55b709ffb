"""Celery tasks of the push path: thin wrappers that take ids and call ``devices.delivery``.

Every task acknowledges late and is requeued when its worker dies; running
one twice sends nothing twice (see ``devices.delivery``). Transient provider
errors are retried with exponential backoff and jitter, never sooner than
the provider's ``Retry-After``. A task lost anyway (never published, or held
by a killed worker) is enqueued again by ``push_sweep`` (docs/push.md,
"The sweep").
"""

import logging
import random

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from . import delivery, selectors

logger = logging.getLogger(__name__)

TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": True,
    "max_retries": None,
    # A database that is briefly unreachable or locked is worth waiting for.
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "retry_kwargs": {"max_retries": 5},
}


def backoff_seconds(retries, retry_after=None):
    """Exponential backoff with jitter for the ``retries``-th retry, at least ``retry_after``.

    The delay doubles from ``PUSH_RETRY_BASE_DELAY`` up to
    ``PUSH_RETRY_MAX_DELAY``; a random half of it is dropped so that many
    tasks failing together do not come back together.
    """
    ceiling = min(settings.PUSH_RETRY_MAX_DELAY, settings.PUSH_RETRY_BASE_DELAY * 2**retries)
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.PUSH_RETRY_AFTER_MAX))
    return delay


def _final(task):
    return task.request.retries >= settings.PUSH_MAX_RETRIES


def _retry_deferred(task, result, final):
    if result.deferred and not final:
        countdown = backoff_seconds(task.request.retries, result.retry_after)
        delivery.push_retry_scheduled(ids=result.deferred_ids, countdown=countdown)
        logger.info(
            "%s%s: retry %s in %.1fs",
            task.name,
            tuple(task.request.args or ()),
            task.request.retries + 1,
            countdown,
        )
        raise task.retry(countdown=countdown)


@shared_task(**TASK_OPTIONS)
def push_message(self, message_id):
    final = _final(self)
    result = delivery.push_message_deliver(message_id=message_id, final=final)
    _retry_deferred(self, result, final)


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def push_messages(message_ids):
    """The receiver's hand-off: ``push_message`` for each message that may need a push.

    The receiver enqueues every new message without a query, the ids of a
    burst in one call (``chatproject.enqueue.enqueue_each``); this decides
    here, in the worker, which ones concern any device at all. Running it
    twice enqueues twice, which ``push_message`` makes harmless.
    """
    for message_id in selectors.messages_to_push(message_ids):
        push_message.delay(message_id)


@shared_task(**TASK_OPTIONS)
def push_clear(self, user_id, room_id, seq, previous_seq):
    final = _final(self)
    result = delivery.push_clear_deliver(
        user_id=user_id, room_id=room_id, seq=seq, previous_seq=previous_seq, final=final
    )
    _retry_deferred(self, result, final)


@shared_task(**TASK_OPTIONS)
def push_test(self, device_id, nonce):
    final = _final(self)
    result = delivery.push_test_deliver(device_id=device_id, nonce=nonce, final=final)
    _retry_deferred(self, result, final)


@shared_task(ignore_result=True)
def push_deliveries_prune():
    """Beat: forget finished deliveries after ``PUSH_DELIVERY_RETENTION_DAYS``."""
    delivery.push_deliveries_prune(older_than_days=settings.PUSH_DELIVERY_RETENTION_DAYS)


@shared_task(ignore_result=True)
def push_sweep():
    """Beat, every ``PUSH_SWEEP_SECONDS``: enqueue again the push work whose task was lost."""
    found = delivery.push_sweep_find()
    for message_id in found.message_ids:
        push_message.delay(message_id)
    for user_id, room_id, seq in found.clears:
        push_clear.delay(user_id, room_id, seq, None)
    for device_id, nonce in found.tests:
        push_test.delay(device_id, nonce)
    enqueued = len(found.message_ids) + len(found.clears) + len(found.tests)
    logger.log(
        logging.INFO if enqueued else logging.DEBUG,
        "push sweep: %s messages undecided, %s deliveries abandoned; "
        "enqueued again: %s message, %s clear, %s test tasks",
        found.undecided,
        found.abandoned,
        len(found.message_ids),
        len(found.clears),
        len(found.tests),
    )
