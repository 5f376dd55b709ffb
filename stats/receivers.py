"""The analytics listener of the event pipeline (chat/signals.py, devices/signals.py).

Receivers run on the sender's thread, which may be serving a websocket, so
they only enqueue, and not once per event: the first event of a day starts a
recompute ``STATS_DELAY_SECONDS`` later and further events of that day in the
same process ride on it for half that time, so a busy node enqueues about one
task a minute, not one per message. The recompute reads everything committed
by the time it runs, and beat's sweep recounts today and yesterday anyway.
Publishing goes through ``chatproject.enqueue``'s background thread, so a
slow broker never holds up the sender.
"""

import logging
import threading
import time
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat import signals as chat_signals
from chatproject.enqueue import enqueue

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_recompute_covered_until = {}  # day -> monotonic time until which a queued recompute covers it
_marked = set()  # (user id, day) already marked active by this process
_MARKED_LIMIT = 100_000


def _schedule_recompute(day):
    now = time.monotonic()
    delay = settings.STATS_DELAY_SECONDS
    with _lock:
        if _recompute_covered_until.get(day, 0) > now:
            return
        _recompute_covered_until[day] = now + delay / 2
    from .tasks import usage_recompute

    transaction.on_commit(partial(enqueue, usage_recompute, day.isoformat(), countdown=delay))


def _today():
    return timezone.now().date()


def recount_on_message_sent(sender, message, **kwargs):
    _schedule_recompute(message.created_at.date() if message.created_at else _today())


def mark_active_on_user_online(sender, user_id, **kwargs):
    day = _today()
    with _lock:
        if (user_id, day) in _marked:
            return
        if len(_marked) > _MARKED_LIMIT:
            _marked.clear()
        _marked.add((user_id, day))
    from .tasks import active_user_mark

    transaction.on_commit(partial(enqueue, active_user_mark, user_id, day.isoformat()))
    _schedule_recompute(day)


def recount_on_device_registered(sender, device, **kwargs):
    _schedule_recompute(_today())


def connect():
    chat_signals.message_sent.connect(
        recount_on_message_sent, dispatch_uid="stats.recount_on_message_sent"
    )
    chat_signals.user_online.connect(
        mark_active_on_user_online, dispatch_uid="stats.mark_active_on_user_online"
    )
    try:
        from devices import signals as device_signals
    except ImportError:
        logger.info("devices.signals is not available; new devices are counted by the sweep only")
        return
    device_signals.device_registered.connect(
        recount_on_device_registered, dispatch_uid="stats.recount_on_device_registered"
    )
