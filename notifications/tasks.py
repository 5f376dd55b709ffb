"""Celery tasks of the notifications app: thin wrappers around ``services``.

They take ids (or nothing), re-read the database and are safe to run twice.
"""

import logging
import random

from celery import shared_task
from kombu.exceptions import OperationalError

from . import services
from .models import Digest

logger = logging.getLogger(__name__)

MAX_RETRIES = 6


def _backoff(retries):
    """30 s, 60 s, 120 s ... up to 30 minutes, with jitter so retries spread out."""
    return min(30 * 2**retries, 1800) * random.uniform(0.5, 1.5)


def _schedule_delivery(opened):
    """Send each newly opened digest when its window closes."""
    for digest_id, due_at in opened:
        try:
            digest_send.apply_async((digest_id,), eta=due_at)
        except (OperationalError, OSError):
            # The sweep sends an open digest whose window closed, task or not.
            logger.warning("digest %s: delivery not scheduled, left to the sweep", digest_id)


@shared_task(ignore_result=True)
def digest_pend_messages(message_ids):
    """Record the messages for the members who miss them; ids already pended do nothing.

    ``chatproject.enqueue.enqueue_each`` puts the ids of a burst in one call.
    """
    _schedule_delivery(services.digest_pend_messages(message_ids=message_ids))


@shared_task(bind=True, max_retries=MAX_RETRIES, ignore_result=True)
def digest_send(self, digest_id):
    """Send the digest's email when its window has closed; nothing if already sent."""
    try:
        outcome = services.digest_deliver(digest_id=digest_id)
    except Exception as exc:
        if not services.smtp_transient(exc):
            raise
        if self.request.retries >= MAX_RETRIES:
            services.digest_fail(digest_id=digest_id)
            logger.error("digest %s: giving up after %s tries", digest_id, MAX_RETRIES + 1)
            return
        logger.warning(
            "digest %s: SMTP not available (%s), will retry", digest_id, type(exc).__name__
        )
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries))
    if outcome == services.Outcome.EARLY:
        # Delivered before its time (clock skew between hosts): wait for it.
        due_at = Digest.objects.filter(pk=digest_id).values_list("due_at", flat=True).first()
        if due_at is not None:
            digest_send.apply_async((digest_id,), eta=due_at)


@shared_task(ignore_result=True)
def digest_sweep():
    """Pend messages and send digests whose task was lost; every NOTIFICATIONS_SWEEP_SECONDS."""
    _schedule_delivery(services.digest_pend_missed())
    outcomes = services.digest_sweep()
    if outcomes:
        logger.info("sweep handled %s overdue digests", len(outcomes))
